//! Turning a polled [`Task`] into a worker's input: the whole task, or a typed value decoded
//! from `inputData` ([`Input`]).

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::model::Task;

/// The input of a task could not be decoded into the worker's input type.
///
/// The message names the offending field, e.g. `invalid input at "amount": invalid type:
/// string "ten", expected u64`. A task that fails this way is reported FAILED with this reason.
#[derive(Debug, thiserror::Error)]
#[error("invalid input at {path:?}: {message}")]
pub struct InputError {
    path: String,
    message: String,
}

impl InputError {
    /// The path of the offending field inside `inputData` (`"."` for the whole object).
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// Decodes a task's `inputData` into `T`, naming the offending field on failure.
///
/// ```
/// # use baton::{decode_input, model::Task};
/// #[derive(Debug, serde::Deserialize)]
/// struct Order { amount: u64 }
/// let mut task = Task::new("charge", "t1", "w1");
/// task.input_data.insert("amount".into(), "ten".into());
/// let err = decode_input::<Order>(&task).unwrap_err();
/// assert_eq!(err.path(), "amount");
/// ```
pub fn decode_input<T: DeserializeOwned>(task: &Task) -> Result<T, InputError> {
    decode_value(Value::Object(task.input_data.clone()))
}

fn decode_value<T: DeserializeOwned>(value: Value) -> Result<T, InputError> {
    serde_path_to_error::deserialize(value).map_err(|err| InputError {
        path: err.path().to_string(),
        message: err.inner().to_string(),
    })
}

/// What a function worker can take as its input.
///
/// Implemented for [`Task`] (the whole task) and [`Input<T>`] (a typed value decoded from
/// `inputData`).
pub trait FromTask: Sized + Send + 'static {
    /// Builds the input from the polled task.
    fn from_task(task: Task) -> Result<Self, InputError>;
}

impl FromTask for Task {
    fn from_task(task: Task) -> Result<Self, InputError> {
        Ok(task)
    }
}

/// A typed worker input, decoded with serde from the task's `inputData`.
///
/// ```
/// # use baton::{FnWorker, Input};
/// #[derive(serde::Deserialize)]
/// struct Greet { name: String }
/// let worker = FnWorker::blocking("greet", |Input(greet): Input<Greet>| {
///     format!("hello {}", greet.name)
/// });
/// # let _ = worker;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Input<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromTask for Input<T> {
    fn from_task(task: Task) -> Result<Self, InputError> {
        decode_value(Value::Object(task.input_data)).map(Input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Order {
        amount: u64,
        customer: Customer,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Customer {
        name: String,
    }

    fn task_with(input: Value) -> Task {
        let mut task = Task::new("charge", "t-1", "wf-1");
        task.input_data = input.as_object().cloned().unwrap_or_default();
        task
    }

    #[test]
    fn decodes_typed_input() {
        let task = task_with(json!({"amount": 10, "customer": {"name": "Ada"}, "extra": 1}));
        let Input(order) = Input::<Order>::from_task(task).unwrap();
        assert_eq!(order.amount, 10);
        assert_eq!(order.customer.name, "Ada");
    }

    #[test]
    fn errors_name_the_nested_field() {
        let task = task_with(json!({"amount": 10, "customer": {"name": 5}}));
        let err = Input::<Order>::from_task(task).unwrap_err();
        assert_eq!(err.path(), "customer.name");
        assert!(err.to_string().contains("customer.name"), "{err}");
        assert!(err.to_string().contains("expected a string"), "{err}");
    }

    #[test]
    fn errors_name_a_missing_field() {
        let err = decode_input::<Order>(&task_with(json!({"amount": 1}))).unwrap_err();
        assert!(
            err.to_string().contains("missing field `customer`"),
            "{err}"
        );
    }
}
