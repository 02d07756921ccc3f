//! Fault injection: rules that make chosen requests fail, stall, vanish or come back broken.
//!
//! A rule names a route (see [`crate::http`]'s route names, or `"*"` for all), an action, and
//! a trigger. Triggers: `first: N` (the first N matching requests), `every: N` (every Nth
//! matching request: the Nth, 2Nth, ...), `probability: p` (each matching request with
//! chance p, drawn from an RNG seeded by `--seed`), `forMs: N` (requests arriving within N ms
//! of the rule's installation: a window, after which the rule is inert). Given several, all
//! must hold; given none, the rule fires on every matching request. Rules are checked in installation order and the
//! first that fires decides; a request gets at most one fault.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// What a fired rule does to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum FaultAction {
    /// Answer `status` with an ErrorResponse body; the request is not applied.
    Status {
        /// The HTTP status code to answer.
        status: u16,
    },
    /// Wait `delay_ms` before handling the request normally.
    Delay {
        /// The added delay in milliseconds.
        delay_ms: u64,
    },
    /// Close the connection without applying the request.
    DropBefore,
    /// Apply the request, then close the connection without answering.
    DropAfter,
    /// Apply the request, then answer 200 with a body that is not valid JSON.
    Malformed,
    /// Apply the request, then send only half of the answer's body and close.
    Truncated,
    /// Read the request, never apply it and never answer: the connection stays open until
    /// the client gives up (or the mock shuts down). With `forMs`, a server stall.
    Stall,
}

/// One fault rule, as posted to `POST /admin/faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FaultRule {
    /// The route name (`poll`, `batch_poll`, `update`, ...) or `"*"`.
    pub route: String,
    /// What to do. Flattened, so buffered while parsing: with serde_json's
    /// `arbitrary_precision` only integer fields may live in a [`FaultAction`].
    #[serde(flatten)]
    pub action: FaultAction,
    /// Fire on each matching request with this probability (0..=1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Fire on the first N matching requests only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<u64>,
    /// Fire on every Nth matching request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
    /// Fire only on requests arriving within this many milliseconds of installation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_ms: Option<u64>,
}

impl FaultRule {
    /// A rule firing `action` on every request to `route` (narrow it with the builders).
    pub fn new(route: impl Into<String>, action: FaultAction) -> Self {
        Self {
            route: route.into(),
            action,
            probability: None,
            first: None,
            every: None,
            for_ms: None,
        }
    }

    /// Fire with probability `p` (builder style).
    #[must_use]
    pub fn probability(mut self, p: f64) -> Self {
        self.probability = Some(p);
        self
    }

    /// Fire on the first `n` matching requests (builder style).
    #[must_use]
    pub fn first(mut self, n: u64) -> Self {
        self.first = Some(n);
        self
    }

    /// Fire on every `n`th matching request (builder style).
    #[must_use]
    pub fn every(mut self, n: u64) -> Self {
        self.every = Some(n);
        self
    }

    /// Fire only on requests arriving within `window` of installation (builder style).
    #[must_use]
    pub fn for_window(mut self, window: std::time::Duration) -> Self {
        self.for_ms = Some(u64::try_from(window.as_millis()).unwrap_or(u64::MAX));
        self
    }

    fn matches(&self, route: &str) -> bool {
        self.route == "*" || self.route == route
    }
}

/// A rule with its counters, as listed by `GET /admin/faults`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InstalledRule {
    /// The rule.
    #[serde(flatten)]
    pub rule: FaultRule,
    /// Matching requests seen.
    pub seen: u64,
    /// Times it fired.
    pub fired: u64,
    /// When it was installed (for `forMs`).
    #[serde(skip)]
    installed_at: Instant,
}

/// The installed rules and the seeded RNG that drives probabilities.
#[derive(Debug)]
pub struct Faults {
    armed: AtomicBool,
    seed: u64,
    inner: Mutex<FaultState>,
}

#[derive(Debug)]
struct FaultState {
    rules: Vec<InstalledRule>,
    rng: fastrand::Rng,
    fired: u64,
    drop_after_fired: u64,
}

impl Faults {
    /// No rules; probabilities will draw from an RNG seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            armed: AtomicBool::new(false),
            seed,
            inner: Mutex::new(FaultState {
                rules: Vec::new(),
                rng: fastrand::Rng::with_seed(seed),
                fired: 0,
                drop_after_fired: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FaultState> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds rules after the installed ones.
    pub fn install(&self, rules: impl IntoIterator<Item = FaultRule>) {
        let installed_at = Instant::now();
        let mut state = self.lock();
        state
            .rules
            .extend(rules.into_iter().map(|rule| InstalledRule {
                rule,
                seen: 0,
                fired: 0,
                installed_at,
            }));
        self.armed.store(!state.rules.is_empty(), Ordering::Release);
    }

    /// Removes every rule and zeroes the counters; the RNG restarts from the seed.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.rules.clear();
        state.rng = fastrand::Rng::with_seed(self.seed);
        state.fired = 0;
        state.drop_after_fired = 0;
        self.armed.store(false, Ordering::Release);
    }

    /// The installed rules with their counters.
    pub fn rules(&self) -> Vec<InstalledRule> {
        self.lock().rules.clone()
    }

    /// `(all faults fired, faults that applied a request and lost its answer)`; the latter
    /// counts `drop_after` and `truncated`.
    pub fn fired(&self) -> (u64, u64) {
        let state = self.lock();
        (state.fired, state.drop_after_fired)
    }

    /// The fault for one request to `route`, if a rule fires.
    pub fn pick(&self, route: &str) -> Option<FaultAction> {
        if !self.armed.load(Ordering::Acquire) {
            return None;
        }
        let mut state = self.lock();
        let FaultState { rules, rng, .. } = &mut *state;
        let mut chosen = None;
        let now = Instant::now();
        for installed in rules.iter_mut().filter(|r| r.rule.matches(route)) {
            installed.seen += 1;
            if chosen.is_some() {
                continue;
            }
            let rule = &installed.rule;
            let by_first = rule.first.is_none_or(|n| installed.seen <= n);
            let by_every = rule.every.is_none_or(|n| n > 0 && installed.seen % n == 0);
            let by_window = rule.for_ms.is_none_or(|ms| {
                now.saturating_duration_since(installed.installed_at)
                    .as_millis()
                    < u128::from(ms)
            });
            let by_chance = by_window && rule.probability.is_none_or(|p| rng.f64() < p);
            if by_first && by_every && by_window && by_chance {
                installed.fired += 1;
                chosen = Some(rule.action);
            }
        }
        if let Some(action) = chosen {
            state.fired += 1;
            if matches!(action, FaultAction::DropAfter | FaultAction::Truncated) {
                state.drop_after_fired += 1;
            }
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fire_pattern(faults: &Faults, route: &str, n: usize) -> Vec<bool> {
        (0..n).map(|_| faults.pick(route).is_some()).collect()
    }

    #[test]
    fn first_and_every_count_matching_requests() {
        let faults = Faults::new(1);
        faults.install([FaultRule::new("update", FaultAction::DropBefore).first(2)]);
        assert_eq!(fire_pattern(&faults, "poll", 3), [false; 3]);
        assert_eq!(
            fire_pattern(&faults, "update", 4),
            [true, true, false, false]
        );
        faults.clear();
        faults.install([FaultRule::new("*", FaultAction::DropAfter).every(3)]);
        assert_eq!(
            fire_pattern(&faults, "poll", 6),
            [false, false, true, false, false, true]
        );
        assert_eq!(faults.fired(), (2, 2));
    }

    #[test]
    fn a_window_fires_only_on_requests_arriving_within_it() {
        let faults = Faults::new(1);
        faults.install([
            FaultRule::new("*", FaultAction::Stall).for_window(std::time::Duration::ZERO),
            FaultRule::new("update", FaultAction::Stall)
                .for_window(std::time::Duration::from_secs(3600)),
        ]);
        assert_eq!(fire_pattern(&faults, "poll", 2), [false, false]);
        assert_eq!(fire_pattern(&faults, "update", 2), [true, true]);
        let json = serde_json::to_value(&faults.rules()[1]).unwrap();
        assert_eq!(json["kind"], "stall");
        assert_eq!(json["forMs"], 3_600_000);
    }

    #[test]
    fn probability_is_reproducible_from_the_seed() {
        let run = |seed| {
            let faults = Faults::new(seed);
            faults.install([FaultRule::new("poll", FaultAction::Malformed).probability(0.3)]);
            fire_pattern(&faults, "poll", 200)
        };
        let a = run(7);
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
        let fired = a.iter().filter(|&&f| f).count();
        assert!((30..=90).contains(&fired), "fired {fired} of 200 at p=0.3");
    }

    #[test]
    fn first_rule_that_fires_wins_and_rules_parse_from_json() {
        let rules: Vec<FaultRule> = serde_json::from_str(
            r#"[{"route":"update","kind":"status","status":503,"first":1},
                {"route":"update","kind":"delay","delayMs":5}]"#,
        )
        .unwrap();
        let faults = Faults::new(0);
        faults.install(rules);
        assert_eq!(
            faults.pick("update"),
            Some(FaultAction::Status { status: 503 })
        );
        assert_eq!(
            faults.pick("update"),
            Some(FaultAction::Delay { delay_ms: 5 })
        );
        let listed = faults.rules();
        assert_eq!((listed[0].seen, listed[0].fired), (2, 1));
        assert_eq!((listed[1].seen, listed[1].fired), (2, 1));
        let json = serde_json::to_value(&listed[1]).unwrap();
        assert_eq!(json["kind"], "delay");
        assert_eq!(json["delayMs"], 5);
    }

    #[test]
    fn fractional_probabilities_parse_with_exact_digit_numbers() {
        // With serde_json's arbitrary_precision, a fraction that goes through a buffer (an
        // untagged or flattened part) arrives as a map; the trigger fields are the rule's own,
        // never buffered, and the flattened action holds integers only.
        let rule: FaultRule = serde_json::from_str(
            r#"{"route":"poll","kind":"delay","delayMs":7,"probability":0.25,"every":2}"#,
        )
        .unwrap();
        assert_eq!(
            rule,
            FaultRule::new("poll", FaultAction::Delay { delay_ms: 7 })
                .probability(0.25)
                .every(2)
        );
        let echoed: FaultRule =
            serde_json::from_value(serde_json::to_value(&rule).unwrap()).unwrap();
        assert_eq!(echoed, rule);
        let missing = serde_json::from_str::<FaultRule>(r#"{"route":"poll","kind":"status"}"#);
        assert!(missing.unwrap_err().to_string().contains("status"));
    }
}
