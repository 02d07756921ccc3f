//! A workflow definition's task tree, flattened once at start: every workflow task (nested ones
//! in switch cases, fork branches and loops included) is a [`Node`] numbered in definition
//! order, with its place in the tree: the task after it in its list, the container it sits in,
//! and the first task of each list it contains.
//!
//! This is what the server's `WorkflowDef.getNextTask` / `WorkflowTask.next` walk each time: the
//! task after a finished one is the next in its list; at the end of a list the container goes
//! on (a switch case ends its SWITCH, a fork branch wakes the JOIN that follows its FORK_JOIN, a
//! loop body ends an iteration of its DO_WHILE), and at the end of the top-level list the
//! workflow is done.

use std::collections::BTreeMap;

use baton_model::{WorkflowDef, WorkflowTask};

/// One workflow task and its place in the tree.
#[derive(Debug)]
pub(crate) struct Node {
    /// The workflow task (nested lists included, as in the definition).
    pub(crate) task: WorkflowTask,
    /// The container (SWITCH, FORK_JOIN, DO_WHILE) whose list holds it; `None` at top level.
    pub(crate) parent: Option<usize>,
    /// The task after it in its list.
    pub(crate) next: Option<usize>,
    /// SWITCH: the first task of each case (`None` for an empty case).
    pub(crate) cases: BTreeMap<String, Option<usize>>,
    /// SWITCH: the first task of the default case.
    pub(crate) default_case: Option<usize>,
    /// FORK_JOIN: the first task of each branch (`None` for an empty branch).
    pub(crate) branches: Vec<Option<usize>>,
    /// DO_WHILE: the first task of the loop body.
    pub(crate) body: Option<usize>,
}

/// Every task of a definition as [`Node`]s; node 0 is the first top-level task.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// The nodes in definition order (depth first).
    pub(crate) nodes: Vec<Node>,
}

impl Plan {
    /// The plan of `def`.
    pub(crate) fn new(def: &WorkflowDef) -> Self {
        let mut plan = Self::default();
        plan.add_list(&def.tasks, None);
        plan
    }

    /// The first top-level task.
    pub(crate) fn first(&self) -> Option<usize> {
        (!self.nodes.is_empty()).then_some(0)
    }

    /// Node `node`, if it exists.
    pub(crate) fn node(&self, node: usize) -> Option<&Node> {
        self.nodes.get(node)
    }

    /// The reference name of node `node` (without a loop iteration's suffix).
    pub(crate) fn reference(&self, node: usize) -> &str {
        self.nodes
            .get(node)
            .map_or("", |n| n.task.task_reference_name.as_str())
    }

    /// Whether `node` sits (at any depth) inside container `ancestor`.
    pub(crate) fn is_inside(&self, mut node: usize, ancestor: usize) -> bool {
        while let Some(parent) = self.nodes.get(node).and_then(|n| n.parent) {
            if parent == ancestor {
                return true;
            }
            node = parent;
        }
        false
    }

    /// Adds `tasks` as one list inside `parent`; returns the first one's node.
    fn add_list(&mut self, tasks: &[WorkflowTask], parent: Option<usize>) -> Option<usize> {
        let mut first = None;
        let mut previous: Option<usize> = None;
        for task in tasks {
            let node = self.add(task, parent);
            if let Some(previous) = previous.and_then(|p| self.nodes.get_mut(p)) {
                previous.next = Some(node);
            }
            first.get_or_insert(node);
            previous = Some(node);
        }
        first
    }

    /// Adds `task` and the lists it contains; returns its node.
    fn add(&mut self, task: &WorkflowTask, parent: Option<usize>) -> usize {
        let node = self.nodes.len();
        self.nodes.push(Node {
            task: task.clone(),
            parent,
            next: None,
            cases: BTreeMap::new(),
            default_case: None,
            branches: Vec::new(),
            body: None,
        });
        let cases: BTreeMap<String, Option<usize>> = task
            .decision_cases
            .iter()
            .map(|(case, tasks)| (case.clone(), self.add_list(tasks, Some(node))))
            .collect();
        let default_case = self.add_list(&task.default_case, Some(node));
        let branches: Vec<Option<usize>> = task
            .fork_tasks
            .iter()
            .map(|tasks| self.add_list(tasks, Some(node)))
            .collect();
        let body = self.add_list(&task.loop_over, Some(node));
        if let Some(entry) = self.nodes.get_mut(node) {
            entry.cases = cases;
            entry.default_case = default_case;
            entry.branches = branches;
            entry.body = body;
        }
        node
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_lists_know_their_next_task_and_their_container() {
        let def: WorkflowDef = serde_json::from_value(json!({
            "name": "w",
            "tasks": [
                {"name": "f", "taskReferenceName": "f", "type": "FORK_JOIN",
                 "forkTasks": [[{"name": "a", "taskReferenceName": "a"},
                                {"name": "b", "taskReferenceName": "b"}],
                               [{"name": "c", "taskReferenceName": "c"}]]},
                {"name": "j", "taskReferenceName": "j", "type": "JOIN", "joinOn": ["b", "c"]},
                {"name": "l", "taskReferenceName": "l", "type": "DO_WHILE",
                 "loopOver": [{"name": "d", "taskReferenceName": "d"}]}
            ]
        }))
        .unwrap();
        let plan = Plan::new(&def);
        let refs: Vec<&str> = (0..plan.nodes.len()).map(|n| plan.reference(n)).collect();
        assert_eq!(refs, ["f", "a", "b", "c", "j", "l", "d"]);
        assert_eq!(plan.nodes[0].branches, [Some(1), Some(3)]);
        assert_eq!(plan.nodes[0].next, Some(4));
        assert_eq!(plan.nodes[1].next, Some(2));
        assert_eq!(plan.nodes[2].next, None);
        assert_eq!(plan.nodes[2].parent, Some(0));
        assert_eq!(plan.nodes[4].next, Some(5));
        assert_eq!(plan.nodes[5].body, Some(6));
        assert!(plan.is_inside(2, 0) && !plan.is_inside(6, 0));
    }
}
