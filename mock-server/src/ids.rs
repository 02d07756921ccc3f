//! Sequence-numbered, UUID-shaped ids for tasks and synthetic workflows.
//!
//! Every task the mock creates gets the next number of one global sequence; its id is that
//! number written into the last group of a fixed UUID-like template. Parsing the id back gives
//! the sequence, so the ledger can index compact vectors by it instead of keeping a map of every
//! id it ever handed out.

/// The first three groups of every task id (a version-4-looking UUID).
const TASK_PREFIX: &str = "00000000-0000-4000-8000-";
/// The first three groups of every workflow id; differs from tasks so the two never collide.
const WORKFLOW_PREFIX: &str = "00000000-0000-4000-9000-";
/// The last group holds 12 hex digits.
const MAX_SEQ: u64 = (1 << 48) - 1;

/// The task id of sequence number `seq`, e.g. `00000000-0000-4000-8000-00000000002a` for 42.
pub fn task_id(seq: u64) -> String {
    format!("{TASK_PREFIX}{:012x}", seq & MAX_SEQ)
}

/// Appends the task id of `seq` to `out` (no allocation).
pub(crate) fn write_task_id(seq: u64, out: &mut Vec<u8>) {
    write_with(TASK_PREFIX, seq, out);
}

/// Appends the workflow id of `seq` to `out` (no allocation).
pub(crate) fn write_workflow_id(seq: u64, out: &mut Vec<u8>) {
    write_with(WORKFLOW_PREFIX, seq, out);
}

/// How many bytes a task or workflow id has.
pub(crate) const ID_LEN: usize = 36;

fn write_with(prefix: &str, seq: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(prefix.as_bytes());
    out.extend_from_slice(&hex_digits(seq));
}

/// The twelve hex digits that end an id.
fn hex_digits(seq: u64) -> [u8; 12] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0_u8; 12];
    for (i, digit) in digits.iter_mut().enumerate() {
        *digit = HEX[((seq >> ((11 - i) * 4)) & 0xf) as usize];
    }
    digits
}

/// Overwrites the task id that `id` holds (as [`write_task_id`] wrote it) with the id of
/// `seq`: only the digits differ between task ids.
pub(crate) fn rewrite_task_id(seq: u64, id: &mut [u8]) {
    if let Some(digits) = id.get_mut(TASK_PREFIX.len()..ID_LEN) {
        digits.copy_from_slice(&hex_digits(seq));
    }
}

/// The sequence number inside a task id, or `None` when `id` is not one of ours.
pub fn parse_task_id(id: &str) -> Option<u64> {
    parse_with(TASK_PREFIX, id)
}

/// The workflow id of synthetic workflow number `seq`.
pub fn workflow_id(seq: u64) -> String {
    format!("{WORKFLOW_PREFIX}{:012x}", seq & MAX_SEQ)
}

/// The sequence number inside a workflow id, or `None` when `id` is not one of ours.
pub fn parse_workflow_id(id: &str) -> Option<u64> {
    parse_with(WORKFLOW_PREFIX, id)
}

fn parse_with(prefix: &str, id: &str) -> Option<u64> {
    let tail = id.strip_prefix(prefix)?;
    if tail.len() != 12 || !tail.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(tail, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_look_like_uuids() {
        for seq in [1, 42, 0xdead_beef, MAX_SEQ] {
            let id = task_id(seq);
            assert_eq!(id.len(), 36);
            assert_eq!(id.matches('-').count(), 4);
            assert_eq!(parse_task_id(&id), Some(seq));
            assert_eq!(parse_workflow_id(&workflow_id(seq)), Some(seq));
            let mut written = Vec::new();
            write_task_id(seq, &mut written);
            assert_eq!(written, id.as_bytes());
            let mut rewritten = task_id(7).into_bytes();
            rewrite_task_id(seq, &mut rewritten);
            assert_eq!(rewritten, id.as_bytes());
            assert_eq!(id.len(), ID_LEN);
        }
    }

    #[test]
    fn foreign_ids_do_not_parse() {
        assert_eq!(parse_task_id("t-1"), None);
        assert_eq!(parse_task_id(""), None);
        assert_eq!(parse_task_id("00000000-0000-4000-8000-00000000002"), None);
        assert_eq!(parse_task_id("00000000-0000-4000-8000-00000000002g"), None);
        assert_eq!(parse_task_id("00000000-0000-4000-8000-+0000000002a"), None);
        // A workflow id is not a task id and vice versa.
        assert_eq!(parse_task_id(&workflow_id(7)), None);
        assert_eq!(parse_workflow_id(&task_id(7)), None);
    }
}
