//! The messages between a host and its worker processes.
//!
//! A worker process's stdin is one end of a Unix socket pair whose other end its parent keeps:
//! both directions carry one JSON object per line. Up, the child reports the tasks it holds
//! ([`Report::Tasks`], written before the tasks are executed) and its status every half
//! second; down, the parent controls it ([`Control`]). Task reports are many (about one per
//! turn of the child's runtime), so they are externally tagged (`{"tasks":{…}}`): serde reads
//! them in one pass, where an internally tagged enum would buffer every report before decoding
//! it. When the parent goes away, even by SIGKILL, the kernel closes its end and the child
//! reads end-of-file: it drains and exits.

use std::io::{self, BufRead, Read, Write};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::actors::HeldTask;
use crate::host::WorkerStatus;

/// The longest line either side reads: a report of a full batch of held tasks stays far below.
const MAX_LINE: u64 = 16 * 1024 * 1024;

/// What a worker process tells its parent. `S` is `&str` when written, `String` when read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Report<S = String> {
    /// Tasks now held (about to be executed) and tasks no longer held (their results
    /// delivered or given up).
    Tasks {
        /// Now held.
        started: Vec<HeldTask<S>>,
        /// Ids no longer held.
        ended: Vec<S>,
    },
    /// The worker's status.
    Status {
        /// The snapshot.
        status: Box<WorkerStatus>,
    },
}

/// What a parent tells a worker process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub(crate) enum Control {
    /// Stop polling (tasks in hand still finish).
    Pause,
    /// Poll again.
    Resume,
    /// Set the worker's concurrency (already validated by the parent).
    Concurrency {
        /// The new concurrency.
        concurrency: usize,
    },
    /// Drain and exit (the host shuts down).
    Drain,
    /// Give up what is left of the drain and exit now (a second signal).
    StopNow,
}

/// Appends `message` to `line` as one line of JSON.
pub(crate) fn encode(line: &mut Vec<u8>, message: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *line, message)?;
    line.push(b'\n');
    Ok(())
}

/// A [`Report::Tasks`] line built up a task at a time: each task is encoded when it is noted,
/// and the line is taken when it is written, with no allocation per task.
#[derive(Debug, Default)]
pub(crate) struct TasksLine {
    /// The `started` tasks, encoded, comma-separated.
    started: Vec<u8>,
    /// The `ended` ids, encoded, comma-separated.
    ended: Vec<u8>,
    ended_count: usize,
}

impl TasksLine {
    /// Notes a task now held.
    pub(crate) fn start(&mut self, task: &HeldTask<&str>) {
        append(&mut self.started, task);
    }

    /// Notes a task no longer held.
    pub(crate) fn end(&mut self, task_id: &str) {
        append(&mut self.ended, task_id);
        self.ended_count += 1;
    }

    /// Whether tasks were started since the last line was taken.
    pub(crate) fn has_started(&self) -> bool {
        !self.started.is_empty()
    }

    /// How many ended ids wait for the next line.
    pub(crate) fn ended_count(&self) -> usize {
        self.ended_count
    }

    /// Whether nothing waits for the next line.
    pub(crate) fn is_empty(&self) -> bool {
        self.started.is_empty() && self.ended.is_empty()
    }

    /// Appends everything noted to `line` as one report and starts over.
    pub(crate) fn take(&mut self, line: &mut Vec<u8>) {
        line.extend_from_slice(br#"{"tasks":{"started":["#);
        line.append(&mut self.started);
        line.extend_from_slice(br#"],"ended":["#);
        line.append(&mut self.ended);
        line.extend_from_slice(b"]}}\n");
        self.ended_count = 0;
    }
}

/// Appends `item` to the comma-separated JSON `list`.
fn append<T: Serialize + ?Sized>(list: &mut Vec<u8>, item: &T) {
    if !list.is_empty() {
        list.push(b',');
    }
    // Strings and structs of strings always encode; writing into a vector cannot fail.
    let _ = serde_json::to_writer(list, item);
}

/// Writes `message` as one line.
pub(crate) fn send(out: &mut impl Write, message: &impl Serialize) -> io::Result<()> {
    let mut line = Vec::with_capacity(64);
    encode(&mut line, message)?;
    out.write_all(&line)
}

/// Reads the next message: `Ok(None)` at end of input. A line that does not parse is an error
/// of kind `InvalidData`; a line over the limit too.
pub(crate) fn receive<T: DeserializeOwned>(
    input: &mut impl BufRead,
    line: &mut Vec<u8>,
) -> io::Result<Option<T>> {
    line.clear();
    let read = input.by_ref().take(MAX_LINE).read_until(b'\n', line)?;
    if read == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') && read as u64 == MAX_LINE {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
    }
    serde_json::from_slice(line)
        .map(Some)
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_written_borrowed_are_read_owned() {
        let mut line = Vec::new();
        let started = vec![HeldTask {
            id: "t1",
            workflow: "wf",
            reference: "ref",
        }];
        let written: Report<&str> = Report::Tasks {
            started,
            ended: vec!["t0"],
        };
        encode(&mut line, &written).unwrap();
        assert!(line.starts_with(br#"{"tasks":{"started":[{"id":"t1""#));
        send(&mut line, &Control::Concurrency { concurrency: 3 }).unwrap();
        let mut input = io::BufReader::new(&line[..]);
        let mut buffer = Vec::new();
        let read: Option<Report> = receive(&mut input, &mut buffer).unwrap();
        assert_eq!(
            read,
            Some(Report::Tasks {
                started: vec![HeldTask {
                    id: "t1".to_owned(),
                    workflow: "wf".to_owned(),
                    reference: "ref".to_owned()
                }],
                ended: vec!["t0".to_owned()],
            })
        );
        let control: Option<Control> = receive(&mut input, &mut buffer).unwrap();
        assert_eq!(control, Some(Control::Concurrency { concurrency: 3 }));
        let end: Option<Control> = receive(&mut input, &mut buffer).unwrap();
        assert_eq!(end, None);
    }

    #[test]
    fn a_tasks_line_built_a_task_at_a_time_reads_as_the_report() {
        let mut noted = TasksLine::default();
        let mut line = Vec::new();
        noted.take(&mut line);
        let weird = "quote \" back\\slash\nnewline ünï";
        noted.start(&HeldTask {
            id: "t1",
            workflow: "wf",
            reference: weird,
        });
        noted.end("t0");
        noted.start(&HeldTask {
            id: "t2",
            workflow: "wf",
            reference: "",
        });
        noted.end(weird);
        assert!(noted.has_started());
        assert_eq!(noted.ended_count(), 2);
        noted.take(&mut line);
        assert!(noted.is_empty());
        assert_eq!(noted.ended_count(), 0);
        let mut input = io::BufReader::new(&line[..]);
        let mut buffer = Vec::new();
        let empty: Option<Report> = receive(&mut input, &mut buffer).unwrap();
        assert_eq!(
            empty,
            Some(Report::Tasks {
                started: vec![],
                ended: vec![]
            })
        );
        let read: Option<Report> = receive(&mut input, &mut buffer).unwrap();
        let held = |id: &str, reference: &str| HeldTask {
            id: id.to_owned(),
            workflow: "wf".to_owned(),
            reference: reference.to_owned(),
        };
        assert_eq!(
            read,
            Some(Report::Tasks {
                started: vec![held("t1", weird), held("t2", "")],
                ended: vec!["t0".to_owned(), weird.to_owned()],
            })
        );
    }

    #[test]
    fn a_garbled_line_is_an_error_not_a_panic() {
        let mut input = io::BufReader::new(&b"{\"kind\":\"pause\"\n"[..]);
        let err = receive::<Control>(&mut input, &mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
