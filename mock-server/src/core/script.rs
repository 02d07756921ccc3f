//! Expression evaluators of SWITCH, INLINE and DO_WHILE, as the server's `Evaluator`s:
//! `value-param` (the input parameter named by the expression) and, with the `javascript`
//! cargo feature, `javascript` / `graaljs` (the script runs with the input bound to `$`; its
//! value is the last statement's), run by boa, a pure-Rust engine, within fixed limits on
//! loop iterations and recursion so a script cannot hang the mock.
//!
//! Script values come back as JSON the way the server's `ScriptEvaluator.getObject` converts
//! them: integral numbers as integers, `undefined` as null.

use serde_json::Value;

/// Whether JavaScript is available (the `javascript` feature).
pub(crate) const JAVASCRIPT: bool = cfg!(feature = "javascript");

/// Most loop iterations one script may run (the server stops a script after 4 s).
#[cfg(feature = "javascript")]
const LOOP_LIMIT: u64 = 1_000_000;
/// Deepest recursion one script may reach.
#[cfg(feature = "javascript")]
const RECURSION_LIMIT: usize = 512;

/// Why an expression could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EvalError {
    /// No evaluator of that type.
    #[error("No evaluator registered for type: {0}")]
    UnknownEvaluator(String),
    /// The input is not a JSON object (value-param).
    #[error("Input has to be a JSON object")]
    NotAnObject,
    /// The script failed to parse or threw.
    #[error("Error evaluating the script `{0}`")]
    Script(String),
}

/// Whether `evaluator` is a JavaScript evaluator type.
pub(crate) fn is_javascript(evaluator: &str) -> bool {
    matches!(evaluator, "javascript" | "graaljs")
}

/// Evaluates `expression` with evaluator `evaluator` over `input`.
pub(crate) fn evaluate(
    evaluator: &str,
    expression: &str,
    input: &Value,
) -> Result<Value, EvalError> {
    match evaluator {
        "value-param" => match input {
            Value::Object(map) => Ok(map.get(expression).cloned().unwrap_or(Value::Null)),
            _ => Err(EvalError::NotAnObject),
        },
        js if is_javascript(js) => run_script(expression, input),
        other => Err(EvalError::UnknownEvaluator(other.to_owned())),
    }
}

/// The truth of a script's value, as the server's `ScriptEvaluator.toBoolean`: a boolean as
/// is, a number when above zero (`doubleValue() > 0`), anything else false.
pub(crate) fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f > 0.0),
        _ => false,
    }
}

/// A value as the server's `"" + value` shows it (a SWITCH's case): strings as they are, null
/// as `null`, numbers and booleans as their JSON text, lists and objects as JSON.
pub(crate) fn case_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(feature = "javascript")]
fn run_script(expression: &str, input: &Value) -> Result<Value, EvalError> {
    use boa_engine::property::Attribute;
    use boa_engine::{Context, JsValue, Source, js_string};

    let script = |e: boa_engine::JsError| EvalError::Script(e.to_string());
    let mut context = Context::default();
    context
        .runtime_limits_mut()
        .set_loop_iteration_limit(LOOP_LIMIT);
    context
        .runtime_limits_mut()
        .set_recursion_limit(RECURSION_LIMIT);
    let bound = JsValue::from_json(input, &mut context).map_err(script)?;
    context
        .register_global_property(js_string!("$"), bound, Attribute::all())
        .map_err(script)?;
    let value = context
        .eval(Source::from_bytes(expression))
        .map_err(script)?;
    let json = value.to_json(&mut context).map_err(script)?;
    Ok(integral(json.unwrap_or(Value::Null)))
}

#[cfg(not(feature = "javascript"))]
fn run_script(_expression: &str, _input: &Value) -> Result<Value, EvalError> {
    Err(EvalError::Script(
        "JavaScript is not available: baton-mock was built without the `javascript` feature"
            .to_owned(),
    ))
}

/// `value` with every integral number written as an integer (JavaScript has only doubles).
#[cfg(feature = "javascript")]
fn integral(value: Value) -> Value {
    /// Integers a double holds exactly.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match value {
        Value::Number(n) => match n.as_f64() {
            #[allow(clippy::cast_possible_truncation)]
            Some(f) if f.fract() == 0.0 && f.abs() < EXACT => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(integral).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, integral(v))).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn value_param_reads_the_named_input() {
        let input = json!({"kind": "a", "n": 2});
        assert_eq!(evaluate("value-param", "kind", &input), Ok(json!("a")));
        assert_eq!(evaluate("value-param", "missing", &input), Ok(Value::Null));
        assert_eq!(
            evaluate("nope", "kind", &input),
            Err(EvalError::UnknownEvaluator("nope".to_owned()))
        );
        assert_eq!(case_text(&json!(2)), "2");
        assert_eq!(case_text(&Value::Null), "null");
        assert!(truthy(&json!(true)) && truthy(&json!(1)) && !truthy(&json!("true")));
        assert!(truthy(&json!(0.5)) && !truthy(&json!(0)) && !truthy(&json!(-1)));
    }

    #[cfg(feature = "javascript")]
    #[test]
    fn javascript_sees_the_input_as_dollar_and_gives_back_json() {
        let input = json!({"a": 2, "b": [1, 2, 3], "name": "x"});
        assert_eq!(
            evaluate("javascript", "$.a * 3 + $.b.length", &input),
            Ok(json!(9))
        );
        assert_eq!(
            evaluate(
                "graaljs",
                "(function () { return {sum: $.b.reduce((s, v) => s + v, 0), half: $.a / 4}; })()",
                &input
            ),
            Ok(json!({"sum": 6, "half": 0.5}))
        );
        assert!(matches!(
            evaluate("javascript", "$.nope.deeper", &input),
            Err(EvalError::Script(_))
        ));
        // A runaway loop ends with an error instead of hanging the mock.
        assert!(matches!(
            evaluate("javascript", "while (true) {}", &input),
            Err(EvalError::Script(_))
        ));
    }
}
