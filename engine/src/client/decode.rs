//! Decoding the tasks of a poll or update-v2 answer, so that one bad task never costs its batch.
//!
//! **Fast path.** The whole answer is decoded at once with simd-json, from a padded copy of the
//! body (the copy simd-json would otherwise make itself), reusing its buffers and tape; this is
//! what nearly every answer takes.
//!
//! **Fallback**, only when the fast path fails. simd-json rejects integers beyond 64 bits
//! (which the server's Jackson writes as plain digits), and one wrong-typed field fails the
//! whole answer. The untouched body is then split into its raw tasks (serde_json `RawValue`)
//! and each is decoded on its own with serde_json, whose `arbitrary_precision` keeps every
//! digit of every number. A task that still does not decode becomes [`Polled::Undecodable`]:
//! its taskId and workflowInstanceId are recovered from the raw JSON and it is posted FAILED
//! with a reason naming the field. A task without even a taskId cannot be posted: it is counted
//! as lost and logged (safe fields only, never its data or `runtimeMetadata`). A body that is
//! not a JSON list at all is a [`ClientError::Decode`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;
use simd_json::{INPUT_PADDING, Tape};

use super::ClientError;
use crate::model::Task;

/// The longest reason posted for an undecodable task (the server keeps 500 characters).
const MAX_REASON_CHARS: usize = 500;

/// Top-level fields whose content is the workflow's data: a decoding error there never
/// quotes the value.
const DATA_FIELDS: [&str; 6] = [
    "inputData",
    "outputData",
    "runtimeMetadata",
    "workflowTask",
    "taskDefinition",
    "executionMetadata",
];

/// A task as the server handed it out.
///
/// Not boxed: the common variant is the large one, and boxing it would cost an allocation per
/// task on the fast path.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Polled {
    /// Decoded: to be executed.
    Task(Task),
    /// Its fields could not be decoded: to be posted FAILED at once.
    Undecodable(Undecodable),
}

impl<'de> Deserialize<'de> for Polled {
    /// The fast path decodes straight into `Polled`, at no cost over decoding a [`Task`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Task::deserialize(deserializer).map(Polled::Task)
    }
}

/// A task whose fields could not be decoded, identified from its raw JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Undecodable {
    /// The task's id.
    pub(crate) task_id: String,
    /// Its workflow's id (`""` when the raw task had none).
    pub(crate) workflow_instance_id: String,
    /// `task could not be decoded: <what> at <field>`.
    pub(crate) reason: String,
}

/// The tasks of one answer, and how many it held that could not even be identified.
#[derive(Debug, Default)]
pub(crate) struct Decoded<C> {
    /// The tasks, decoded or not: each takes an execution slot.
    pub(crate) tasks: C,
    /// Tasks without a usable taskId: logged and left to the server's response timeout.
    pub(crate) lost: usize,
}

/// Buffers reused from one answer to the next: the body as read, the padded copy simd-json
/// parses in place, simd-json's scratch space and its tape.
pub(crate) struct DecodeBuffers {
    /// The answer's body, exactly as received (the fallback reads it).
    pub(crate) body: Vec<u8>,
    padded: Vec<u8>,
    simd: simd_json::Buffers,
    tape: Tape<'static>,
}

impl Default for DecodeBuffers {
    fn default() -> Self {
        Self {
            body: Vec::new(),
            padded: Vec::new(),
            simd: simd_json::Buffers::default(),
            tape: Tape::null(),
        }
    }
}

impl DecodeBuffers {
    /// The fast path: `body` as one `T`, with simd-json. Leaves `body` untouched.
    fn decode_whole<T: DeserializeOwned>(&mut self) -> Result<T, simd_json::Error> {
        let len = self.body.len();
        self.padded.clear();
        self.padded.reserve(len + INPUT_PADDING);
        self.padded.extend_from_slice(&self.body);
        self.padded.resize(len + INPUT_PADDING, b' ');
        let mut tape = std::mem::replace(&mut self.tape, Tape::null()).reset();
        let decoded =
            match simd_json::fill_tape_padded(&mut self.padded, len, &mut self.simd, &mut tape) {
                Ok(()) => {
                    let mut deserializer = simd_json::Deserializer::from_tape(tape);
                    let decoded = T::deserialize(&mut deserializer);
                    tape = deserializer.into_tape();
                    decoded
                }
                Err(err) => Err(err),
            };
        self.tape = tape.reset();
        decoded
    }

    /// A batch-poll answer (a JSON list) in `body`: every task, decoded or not.
    pub(crate) fn decode_batch(&mut self) -> Result<Decoded<Vec<Polled>>, ClientError> {
        match self.decode_whole::<Vec<Polled>>() {
            Ok(tasks) => Ok(Decoded { tasks, lost: 0 }),
            Err(whole) => split_batch(&self.body, &whole),
        }
    }

    /// An update-v2 answer (one task) in `body`. A body that is not JSON is logged, not
    /// counted: nothing says it held a task (the result was taken either way).
    pub(crate) fn decode_single(&mut self) -> Decoded<Option<Polled>> {
        let whole = match self.decode_whole::<Polled>() {
            Ok(task) => {
                return Decoded {
                    tasks: Some(task),
                    lost: 0,
                };
            }
            Err(err) => err,
        };
        match serde_json::from_slice::<&RawValue>(&self.body) {
            Ok(raw) => {
                let task = decode_one(raw, 0);
                Decoded {
                    lost: usize::from(task.is_none()),
                    tasks: task,
                }
            }
            Err(err) => {
                tracing::warn!(
                    size = self.body.len(),
                    error = %err,
                    fast_path_error = %whole,
                    "update-v2 answer is not JSON; a task it may carry is left to the \
                     server's response timeout"
                );
                Decoded::default()
            }
        }
    }
}

/// The fallback for a list: split into raw tasks, decode each on its own.
fn split_batch(body: &[u8], whole: &simd_json::Error) -> Result<Decoded<Vec<Polled>>, ClientError> {
    let raw: Vec<&RawValue> = serde_json::from_slice(body).map_err(ClientError::decode)?;
    let mut decoded = Decoded {
        tasks: Vec::with_capacity(raw.len()),
        lost: 0,
    };
    for (index, raw) in raw.iter().enumerate() {
        match decode_one(raw, index) {
            Some(task) => decoded.tasks.push(task),
            None => decoded.lost += 1,
        }
    }
    let undecodable = decoded
        .tasks
        .iter()
        .filter(|t| matches!(t, Polled::Undecodable(_)))
        .count();
    if undecodable + decoded.lost > 0 {
        tracing::warn!(
            tasks = raw.len(),
            undecodable,
            lost = decoded.lost,
            fast_path_error = %whole,
            "poll answer decoded task by task; undecodable tasks are posted FAILED"
        );
    } else {
        // Typically integers beyond 64 bits: every task decoded, digits kept.
        tracing::debug!(
            tasks = raw.len(),
            fast_path_error = %whole,
            "poll answer decoded task by task"
        );
    }
    Ok(decoded)
}

/// The fields that identify a raw task, read leniently (any JSON type is accepted, only
/// strings are used).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Identity {
    task_id: Option<Value>,
    workflow_instance_id: Option<Value>,
    task_type: Option<Value>,
    reference_task_name: Option<Value>,
}

impl Identity {
    fn of(raw: &RawValue) -> Self {
        serde_json::from_str(raw.get()).unwrap_or_default()
    }
}

fn as_str(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str)
}

/// Decodes one raw task; `None` when it cannot be decoded nor identified (logged here).
fn decode_one(raw: &RawValue, index: usize) -> Option<Polled> {
    let mut deserializer = serde_json::Deserializer::from_str(raw.get());
    let err = match serde_path_to_error::deserialize::<_, Task>(&mut deserializer) {
        Ok(task) => return Some(Polled::Task(task)),
        Err(err) => err,
    };
    let reason = reason(&err);
    let identity = Identity::of(raw);
    match as_str(identity.task_id.as_ref()).filter(|id| !id.is_empty()) {
        Some(task_id) => Some(Polled::Undecodable(Undecodable {
            task_id: task_id.to_owned(),
            workflow_instance_id: as_str(identity.workflow_instance_id.as_ref())
                .unwrap_or_default()
                .to_owned(),
            reason,
        })),
        None => {
            // Only identifiers and shapes: the task's data may hold secrets.
            tracing::error!(
                index,
                size = raw.get().len(),
                json = json_kind(raw.get()),
                task_type = as_str(identity.task_type.as_ref()),
                workflow_id = as_str(identity.workflow_instance_id.as_ref()),
                reference_task_name = as_str(identity.reference_task_name.as_ref()),
                %reason,
                "polled task has no usable taskId and cannot be answered; it is left to the \
                 server's response timeout"
            );
            None
        }
    }
}

/// What kind of JSON value `raw` is, from its first byte.
fn json_kind(raw: &str) -> &'static str {
    match raw.trim_start().as_bytes().first() {
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b'"') => "string",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ => "number",
    }
}

/// `task could not be decoded: <serde's message> at <field path>`, without serde_json's
/// line and column, without quoting values under the workflow's data fields, and at most
/// [`MAX_REASON_CHARS`] long.
fn reason(err: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let inner = err.inner();
    let mut message = inner.to_string();
    if inner.line() != 0 {
        let position = format!(" at line {} column {}", inner.line(), inner.column());
        if let Some(stripped) = message.strip_suffix(&position) {
            message.truncate(stripped.len());
        }
    }
    let path = err.path().to_string();
    let top = path.split(['.', '[']).next().unwrap_or_default();
    if DATA_FIELDS.contains(&top) {
        message = match message.rsplit_once(", expected ") {
            Some((_, expected)) => format!("invalid value (not shown), expected {expected}"),
            None => "invalid value (not shown)".to_owned(),
        };
    }
    let mut reason = if path == "." {
        format!("task could not be decoded: {message}")
    } else {
        format!("task could not be decoded: {message} at {path}")
    };
    if let Some((cut, _)) = reason.char_indices().nth(MAX_REASON_CHARS) {
        reason.truncate(cut);
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffers(body: &str) -> DecodeBuffers {
        let mut buffers = DecodeBuffers::default();
        buffers.body.extend_from_slice(body.as_bytes());
        buffers
    }

    fn batch(body: &str) -> Decoded<Vec<Polled>> {
        buffers(body).decode_batch().unwrap()
    }

    fn task(polled: &Polled) -> &Task {
        match polled {
            Polled::Task(task) => task,
            Polled::Undecodable(bad) => panic!("undecodable: {bad:?}"),
        }
    }

    fn undecodable(polled: &Polled) -> &Undecodable {
        match polled {
            Polled::Undecodable(bad) => bad,
            Polled::Task(task) => panic!("decoded: {task:?}"),
        }
    }

    #[test]
    fn the_fast_path_reuses_its_buffers_answer_after_answer() {
        let mut buffers = buffers(r#"[{"taskId":"a","inputData":{"s":"x\"y"}},{"taskId":"b"}]"#);
        for _ in 0..3 {
            let decoded = buffers.decode_batch().unwrap();
            assert_eq!(decoded.tasks.len(), 2);
            assert_eq!(task(&decoded.tasks[0]).input_data["s"], "x\"y");
            assert_eq!(decoded.lost, 0);
        }
        assert_eq!(
            buffers.body,
            br#"[{"taskId":"a","inputData":{"s":"x\"y"}},{"taskId":"b"}]"#
        );
    }

    #[test]
    fn integers_beyond_64_bits_keep_their_digits() {
        let big = "123456789012345678901234567890";
        let decoded = batch(&format!(
            r#"[{{"taskId":"a","inputData":{{"big":{big},"neg":-{big},"s":"q\"uote"}}}},
                {{"taskId":"b","inputData":{{"n":1}}}}]"#
        ));
        assert_eq!(decoded.tasks.len(), 2);
        let input = &task(&decoded.tasks[0]).input_data;
        assert_eq!(input["big"].to_string(), big);
        assert_eq!(input["neg"].to_string(), format!("-{big}"));
        assert_eq!(input["s"], "q\"uote");
        assert_eq!(task(&decoded.tasks[1]).input_data["n"], 1);
    }

    #[test]
    fn one_wrong_typed_field_costs_only_its_task() {
        let decoded = batch(
            r#"[{"taskId":"a","workflowInstanceId":"w"},
                {"taskId":"b","workflowInstanceId":"w","retryCount":"x"},
                {"taskId":"c","workflowInstanceId":"w"}]"#,
        );
        assert_eq!(decoded.tasks.len(), 3);
        assert_eq!(task(&decoded.tasks[0]).task_id, "a");
        assert_eq!(task(&decoded.tasks[2]).task_id, "c");
        assert_eq!(
            undecodable(&decoded.tasks[1]),
            &Undecodable {
                task_id: "b".into(),
                workflow_instance_id: "w".into(),
                reason: r#"task could not be decoded: invalid type: string "x", expected i32 at retryCount"#
                    .into(),
            }
        );
    }

    #[test]
    fn data_fields_are_never_quoted_in_reasons() {
        let decoded =
            batch(r#"[{"taskId":"a","runtimeMetadata":"s3cret"},{"taskId":"b","inputData":[1]}]"#);
        let first = undecodable(&decoded.tasks[0]);
        assert!(!first.reason.contains("s3cret"), "{}", first.reason);
        assert!(
            first.reason.ends_with("at runtimeMetadata"),
            "{}",
            first.reason
        );
        assert!(first.reason.contains("expected a map"), "{}", first.reason);
        assert!(
            undecodable(&decoded.tasks[1])
                .reason
                .ends_with("at inputData")
        );
    }

    #[test]
    fn tasks_without_a_task_id_are_counted_as_lost() {
        let decoded = batch(r#"[{"taskId":5,"retryCount":"x"},7,{"taskId":"ok"}]"#);
        assert_eq!(decoded.lost, 2);
        assert_eq!(decoded.tasks.len(), 1);
        assert_eq!(task(&decoded.tasks[0]).task_id, "ok");
    }

    #[test]
    fn bodies_that_are_not_a_json_list_are_errors() {
        for body in [
            "<html>oops</html>",
            "[{\"taskId\":\"x\"",
            "{\"taskId\":\"x\"}",
        ] {
            assert!(
                matches!(buffers(body).decode_batch(), Err(ClientError::Decode(_))),
                "{body}"
            );
        }
    }

    #[test]
    fn long_reasons_are_cut_at_500_characters() {
        let long = "y".repeat(2000);
        let decoded = batch(&format!(r#"[{{"taskId":"a","seq":"{long}"}}]"#));
        assert_eq!(undecodable(&decoded.tasks[0]).reason.chars().count(), 500);
    }

    #[test]
    fn single_answers_decode_like_one_element_of_a_list() {
        let good = buffers(r#"{"taskId":"a","inputData":{"big":123456789012345678901234567890}}"#)
            .decode_single();
        assert_eq!(
            task(good.tasks.as_ref().unwrap()).input_data["big"].to_string(),
            "123456789012345678901234567890"
        );
        let bad =
            buffers(r#"{"taskId":"a","workflowInstanceId":"w","pollCount":[]}"#).decode_single();
        assert!(
            undecodable(bad.tasks.as_ref().unwrap())
                .reason
                .ends_with("expected i32 at pollCount")
        );
        let garbage = buffers("not json").decode_single();
        assert!(garbage.tasks.is_none());
        assert_eq!(garbage.lost, 0);
    }
}
