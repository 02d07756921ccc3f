//! The shape of a synthetic workload, shared by `baton_worker` and the harness so both sides
//! agree: the task-type names of a host with several types, the concurrency each of them
//! gets, and task inputs of a given size.

/// The task types of a host running `count` types named after `base`: `base` itself for one
/// type (so single-type runs keep their plain name), else `base-0` … `base-{count-1}`.
pub fn task_type_names(base: &str, count: usize) -> Vec<String> {
    if count <= 1 {
        return vec![base.to_owned()];
    }
    (0..count).map(|i| format!("{base}-{i}")).collect()
}

/// `total` slots split evenly over `types` workers, the remainder going to the first ones;
/// every worker gets at least one (so the sum exceeds `total` when `types > total`).
pub fn split_concurrency(total: usize, types: usize) -> Vec<usize> {
    let types = types.max(1);
    let share = total / types;
    let extra = total % types;
    (0..types)
        .map(|i| (share + usize::from(i < extra)).max(1))
        .collect()
}

/// A task input carrying `bytes` bytes of payload: `{"data": "xxx…"}` with a string of
/// exactly `bytes` ASCII characters (the JSON adds 11 bytes around it). Zero bytes: `{}`.
pub fn payload_input(bytes: usize) -> serde_json::Value {
    if bytes == 0 {
        return serde_json::json!({});
    }
    serde_json::json!({ "data": "x".repeat(bytes) })
}

/// The serialized size of `input` in bytes (what one task's input costs to move).
pub fn input_bytes(input: &serde_json::Value) -> usize {
    // Serializing a `Value` into a Vec cannot fail.
    serde_json::to_vec(input).map_or(0, |bytes| bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_type_keeps_its_plain_name_several_are_numbered() {
        assert_eq!(task_type_names("bench", 1), ["bench"]);
        assert_eq!(task_type_names("bench", 0), ["bench"]);
        assert_eq!(
            task_type_names("bench", 3),
            ["bench-0", "bench-1", "bench-2"]
        );
        let hundred = task_type_names("bench", 100);
        assert_eq!(hundred.len(), 100);
        assert_eq!(hundred[99], "bench-99");
    }

    #[test]
    fn concurrency_splits_evenly_with_at_least_one_each() {
        assert_eq!(split_concurrency(256, 1), [256]);
        assert_eq!(
            split_concurrency(256, 10),
            [26, 26, 26, 26, 26, 26, 25, 25, 25, 25]
        );
        assert_eq!(split_concurrency(256, 10).iter().sum::<usize>(), 256);
        let hundred = split_concurrency(256, 100);
        assert_eq!(hundred.iter().sum::<usize>(), 256);
        assert_eq!((hundred[0], hundred[99]), (3, 2));
        assert_eq!(split_concurrency(4, 10), [1; 10], "at least one each");
        assert_eq!(split_concurrency(0, 2), [1, 1]);
        assert_eq!(split_concurrency(7, 0), [7], "no types means one");
    }

    #[test]
    fn payloads_have_the_size_asked_for() {
        assert_eq!(payload_input(0), serde_json::json!({}));
        for bytes in [1, 100, 10_000, 1_000_000] {
            let input = payload_input(bytes);
            assert_eq!(input["data"].as_str().map(str::len), Some(bytes));
            assert_eq!(input_bytes(&input), bytes + r#"{"data":""}"#.len());
        }
        assert_eq!(input_bytes(&serde_json::json!({})), 2);
    }
}
