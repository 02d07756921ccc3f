//! The C++ function `get_sum` of `cpp/checked_sum.cpp`, compiled by the build script with the
//! `cc` crate and linked statically into the program.

/// The C declarations.
mod sys {
    // `int32_t get_sum(int32_t, int32_t)` with C linkage (`extern "C"` in the C++ source).
    unsafe extern "C" {
        pub(super) fn get_sum(a: i32, b: i32) -> i32;
    }
}

/// `a + b`, computed by the C++ code. A sum that does not fit in an `i32` **aborts the
/// process** (SIGABRT): the C++ code refuses signed overflow that way.
pub fn get_sum(a: i32, b: i32) -> i32 {
    // SAFETY: the declaration above matches the C++ definition (two `int32_t` by value, an
    // `int32_t` back, C linkage); the function reads and writes no memory of ours and keeps no
    // state, so any arguments are sound to pass. Aborting ends the process; it is not undefined
    // behaviour.
    unsafe { sys::get_sum(a, b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_sum_adds_in_cpp() {
        assert_eq!(get_sum(2, 3), 5);
        assert_eq!(get_sum(-7, 4), -3);
        assert_eq!(get_sum(i32::MAX, 0), i32::MAX);
        assert_eq!(get_sum(i32::MIN, 0), i32::MIN);
    }
}
