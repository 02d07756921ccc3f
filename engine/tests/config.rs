//! Integration tests of `baton::config`: every source, every environment spelling, precedence,
//! aliases, task names with underscores, booleans, every error, worker.ini handling, the server
//! settings and the `print_config` example. The environment is injected through
//! `ConfigSources::new` / `discover`; only the `from_process` tests touch the real process
//! environment and working directory, inside `figment::Jail`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// figment::Jail closures must return figment::Error, which is large; not our choice.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use baton::config::{
    ConfigError, ConfigSources, DEFAULT_SERVER_URL, ServerOptions, Source, WORKER_PROPERTIES,
    WorkerOptions, WorkerSettings, default_worker_id,
};

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "baton-config-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn sources(pairs: &[(&str, &str)]) -> ConfigSources {
    ConfigSources::new(env(pairs), None).unwrap()
}

/// Sources with a worker.ini holding `ini`; the TempDir must outlive the test.
fn with_ini(pairs: &[(&str, &str)], ini: &str) -> (ConfigSources, PathBuf, TempDir) {
    let dir = TempDir::new();
    let path = dir.write("worker.ini", ini);
    let sources = ConfigSources::new(env(pairs), Some(&path)).unwrap();
    (sources, path, dir)
}

fn resolve(sources: &ConfigSources, task: &str) -> WorkerSettings {
    sources
        .resolve_worker(task, &WorkerOptions::default())
        .unwrap()
}

fn env_source(name: &str) -> Source {
    Source::Env(name.to_owned())
}

fn file_source(path: &Path, section: &str) -> Source {
    Source::File {
        path: path.to_owned(),
        section: section.to_owned(),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Asserts an `InvalidValue` naming `key` and `origin`, with `expected_part` in its message.
fn assert_invalid(
    result: Result<WorkerSettings, ConfigError>,
    key: &str,
    origin: &Source,
    expected_part: &str,
) {
    let err = result.expect_err("the value must be rejected");
    let message = err.to_string();
    match &err {
        ConfigError::InvalidValue {
            key: k, origin: o, ..
        } => {
            assert_eq!(k, key, "{message}");
            assert_eq!(o, origin, "{message}");
        }
        other => panic!("expected InvalidValue, got {other:?}"),
    }
    assert!(message.contains(key), "{message}");
    assert!(message.contains(&origin.to_string()), "{message}");
    assert!(message.contains(expected_part), "{message}");
}

// ---- defaults and code ----

#[test]
fn defaults_apply_when_nothing_is_set() {
    let s = resolve(&sources(&[]), "t");
    assert_eq!(s.task_type, "t");
    assert_eq!(s.polling_interval, ms(100));
    assert_eq!(s.domain, None);
    assert_eq!(s.worker_id, default_worker_id());
    assert!(s.worker_id.ends_with(&format!("-{}", std::process::id())));
    assert_eq!(s.concurrency, 1);
    assert_eq!(s.batch_size, 1);
    assert_eq!(s.poll_timeout, ms(100));
    assert!(!s.paused);
    assert_eq!(s.update_retries, None);
    assert_eq!(s.update_retry_backoff, ms(250));
    assert_eq!(s.update_retry_backoff_max, ms(5000));
    assert_eq!(s.update_retry_budget, ms(300_000));
    assert_eq!(s.shutdown_grace, ms(30_000));
    assert!(
        s.sources
            .iter()
            .all(|(_, source)| *source == Source::Default)
    );
}

#[test]
fn code_values_beat_defaults_and_batch_size_follows_concurrency() {
    let code = WorkerOptions::default()
        .with_polling_interval(ms(250))
        .with_domain("blue")
        .with_worker_id("w1")
        .with_concurrency(8)
        .with_poll_timeout(ms(5000))
        .with_paused(true)
        .with_update_retries(0)
        .with_update_retry_backoff(ms(10))
        .with_update_retry_backoff_max(ms(20))
        .with_update_retry_budget(ms(30))
        .with_execution_timeout(ms(40))
        .with_shutdown_grace(ms(0))
        .with_lease_extend_enabled(true)
        .with_processes(4)
        .with_process_restart_delay(ms(50))
        .with_process_restart_delay_max(ms(60))
        .with_process_healthy_after(ms(70))
        .with_process_crash_limit(5);
    let s = sources(&[]).resolve_worker("t", &code).unwrap();
    assert_eq!(s.polling_interval, ms(250));
    assert_eq!(s.domain.as_deref(), Some("blue"));
    assert_eq!(s.worker_id, "w1");
    assert_eq!((s.concurrency, s.batch_size), (8, 8));
    assert_eq!(s.poll_timeout, ms(5000));
    assert!(s.paused);
    assert_eq!(s.update_retries, Some(0));
    assert_eq!(s.update_retry_backoff, ms(10));
    assert_eq!(s.update_retry_backoff_max, ms(20));
    assert_eq!(s.update_retry_budget, ms(30));
    assert_eq!(s.execution_timeout, Some(ms(40)));
    assert_eq!(s.shutdown_grace, Duration::ZERO);
    assert!(s.lease_extend_enabled);
    assert_eq!(s.processes, 4);
    assert_eq!(s.process_restart_delay, ms(50));
    assert_eq!(s.process_restart_delay_max, ms(60));
    assert_eq!(s.process_healthy_after, ms(70));
    assert_eq!(s.process_crash_limit, 5);
    for (name, source) in s.sources.iter() {
        let expected = if name == "batch_size" {
            Source::Default
        } else {
            Source::Code
        };
        assert_eq!(*source, expected, "{name}");
    }

    let s = sources(&[])
        .resolve_worker("t", &WorkerOptions::default().with_batch_size(3))
        .unwrap();
    assert_eq!((s.concurrency, s.batch_size), (1, 3));
    assert_eq!(s.sources.batch_size, Source::Code);
}

#[test]
fn empty_domain_means_no_domain_in_every_source() {
    let code = WorkerOptions::default().with_domain("");
    assert_eq!(
        sources(&[]).resolve_worker("t", &code).unwrap().domain,
        None
    );

    let (s, path, _dir) = with_ini(&[], "[DEFAULT]\ndomain = blue\n[t]\ndomain =\n");
    let settings = resolve(&s, "t");
    assert_eq!(settings.domain, None);
    assert_eq!(settings.sources.domain, file_source(&path, "t"));

    // An empty environment value still wins over the file: it switches the domain off.
    let (s, _path, _dir) = with_ini(&[("CONDUCTOR_WORKER_DOMAIN", "")], "[t]\ndomain = blue\n");
    let settings = resolve(&s, "t");
    assert_eq!(settings.domain, None);
    assert_eq!(
        settings.sources.domain,
        env_source("CONDUCTOR_WORKER_DOMAIN")
    );
}

// ---- worker.ini ----

#[test]
fn file_sections_layer_over_code() {
    let ini = "[DEFAULT]\ndomain = nice\npolling_interval = 2000\nconcurrency = 2\n\n\
               [task_1]\ndomain = cool\nPOLLING_INTERVAL = 500\n";
    let (s, path, _dir) = with_ini(&[], ini);
    let code = WorkerOptions::default()
        .with_domain("code")
        .with_polling_interval(ms(1))
        .with_worker_id("from-code");

    let t1 = s.resolve_worker("task_1", &code).unwrap();
    assert_eq!(t1.domain.as_deref(), Some("cool"));
    assert_eq!(t1.polling_interval, ms(500));
    assert_eq!(t1.concurrency, 2);
    assert_eq!(t1.worker_id, "from-code");
    assert_eq!(t1.sources.domain, file_source(&path, "task_1"));
    assert_eq!(t1.sources.polling_interval, file_source(&path, "task_1"));
    assert_eq!(t1.sources.concurrency, file_source(&path, "DEFAULT"));
    assert_eq!(t1.sources.worker_id, Source::Code);

    // Section names are case-sensitive, like configparser: [task_1] is not [TASK_1].
    let other = s.resolve_worker("TASK_1", &code).unwrap();
    assert_eq!(other.domain.as_deref(), Some("nice"));
    assert_eq!(other.polling_interval, ms(2000));
    assert_eq!(other.sources.domain, file_source(&path, "DEFAULT"));
}

#[test]
fn every_property_is_settable_from_the_file() {
    let ini = "[t]\npolling_interval = 1\ndomain = d\nworker_id = w\nconcurrency = 2\n\
               batch_size = 3\npoll_timeout = 4\npaused = yes\nupdate_retries = 5\n\
               update_retry_backoff = 6\nshutdown_grace = 7\nlease_extend_enabled = 1\n\
               update_retry_backoff_max = 8\nupdate_retry_budget = 9\nexecution_timeout = 10\n\
               processes = 11\nprocess_restart_delay = 12\nprocess_restart_delay_max = 13\n\
               process_healthy_after = 14\nprocess_crash_limit = 15\n";
    let (s, path, _dir) = with_ini(&[], ini);
    let t = resolve(&s, "t");
    assert_eq!(
        t.to_json(),
        serde_json::json!({
            "task_type": "t", "polling_interval": 1, "domain": "d", "worker_id": "w",
            "concurrency": 2, "batch_size": 3, "poll_timeout": 4, "paused": true,
            "update_retries": 5, "update_retry_backoff": 6, "shutdown_grace": 7,
            "lease_extend_enabled": true, "update_retry_backoff_max": 8,
            "update_retry_budget": 9, "execution_timeout": 10, "processes": 11,
            "process_restart_delay": 12, "process_restart_delay_max": 13,
            "process_healthy_after": 14, "process_crash_limit": 15,
            "sources": WORKER_PROPERTIES.iter()
                .map(|p| ((*p).to_owned(), format!("file:{}[t]", path.display()).into()))
                .collect::<serde_json::Map<_, _>>(),
        })
    );
}

#[test]
fn unknown_ini_keys_are_reported() {
    let (s, _path, _dir) = with_ini(
        &[],
        "[DEFAULT]\nlease_extend = on\n[t]\ndomain = x\nColour = red\n",
    );
    assert_eq!(
        s.unknown_ini_keys(),
        vec![
            ("DEFAULT".to_owned(), "lease_extend".to_owned()),
            ("t".to_owned(), "Colour".to_owned()),
        ]
    );
    assert_eq!(resolve(&s, "t").domain.as_deref(), Some("x"));
    assert!(sources(&[]).unknown_ini_keys().is_empty());
}

#[test]
fn file_values_are_taken_literally() {
    // configparser keeps quotes and backslashes; a numeric-looking domain stays a string.
    let (s, _path, _dir) = with_ini(&[], "[t]\ndomain = 1234\nworker_id = \"a\\b\"\n");
    let t = resolve(&s, "t");
    assert_eq!(t.domain.as_deref(), Some("1234"));
    assert_eq!(t.worker_id, "\"a\\b\"");
}

// ---- environment spellings and precedence ----

#[test]
fn unknown_worker_variables_are_reported() {
    let s = sources(&[
        ("CONDUCTOR_WORKER_T_REGISTER_TASK_DEF", "true"),
        ("conductor_worker_Domain", "x"),
        ("CONDUCTOR_WORKER_CONFIG", "ignored-by-new.ini"),
        ("CONDUCTOR_WORKER_ISOLATION", "process"),
        ("CONDUCTOR_WORKER_DOMAIN", "known"),
        ("HOME", "/root"),
    ]);
    assert_eq!(
        s.unknown_env_vars(),
        vec![
            "CONDUCTOR_WORKER_T_REGISTER_TASK_DEF".to_owned(),
            "conductor_worker_Domain".to_owned(),
        ]
    );
    assert_eq!(resolve(&s, "t").domain.as_deref(), Some("known"));
    assert_eq!(s.ini_path(), None);
}

/// Every spelling for task `my_task` and property `domain`, strongest first.
const DOMAIN_SPELLINGS: [&str; 7] = [
    "conductor.worker.my_task.domain",
    "conductor_worker_my_task_domain",
    "CONDUCTOR_WORKER_my_task_DOMAIN",
    "conductor.worker.all.domain",
    "CONDUCTOR_WORKER_ALL_DOMAIN",
    "conductor_worker_domain",
    "CONDUCTOR_WORKER_DOMAIN",
];

#[test]
fn every_spelling_sets_a_value_alone() {
    for name in DOMAIN_SPELLINGS {
        let s = resolve(&sources(&[(name, "d1")]), "my_task");
        assert_eq!(s.domain.as_deref(), Some("d1"), "{name}");
        assert_eq!(s.sources.domain, env_source(name));
    }
    let s = resolve(
        &sources(&[("CONDUCTOR_WORKER_MY_TASK_DOMAIN", "up")]),
        "my_task",
    );
    assert_eq!(s.domain.as_deref(), Some("up"));
}

#[test]
fn spellings_rank_in_conductor_python_order() {
    // With all seven set, drop the strongest one at a time: the next one must win.
    for strongest in 0..DOMAIN_SPELLINGS.len() {
        let pairs: Vec<(&str, String)> = DOMAIN_SPELLINGS[strongest..]
            .iter()
            .map(|name| (*name, format!("value of {name}")))
            .collect();
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let s = resolve(&sources(&pairs), "my_task");
        let winner = DOMAIN_SPELLINGS[strongest];
        assert_eq!(s.domain, Some(format!("value of {winner}")));
        assert_eq!(s.sources.domain, env_source(winner));
    }
}

#[test]
fn upper_spelling_prefers_the_task_as_written() {
    let pairs = [
        ("CONDUCTOR_WORKER_MYTASK_DOMAIN", "upper-cased"),
        ("CONDUCTOR_WORKER_myTask_DOMAIN", "as-written"),
        ("CONDUCTOR_WORKER_ALL_DOMAIN", "all"),
    ];
    assert_eq!(
        resolve(&sources(&pairs), "myTask").domain.as_deref(),
        Some("as-written")
    );
    assert_eq!(
        resolve(&sources(&pairs[..1]), "myTask").domain.as_deref(),
        Some("upper-cased")
    );
    // Other spellings match the task name exactly (case-sensitive).
    let pairs = [("conductor_worker_MYTASK_domain", "x")];
    assert_eq!(resolve(&sources(&pairs), "myTask").domain, None);
}

#[test]
fn per_task_variables_do_not_leak_to_other_tasks() {
    let s = sources(&[
        ("conductor_worker_a_concurrency", "3"),
        ("CONDUCTOR_WORKER_B_CONCURRENCY", "4"),
        ("conductor.worker.c.concurrency", "5"),
    ]);
    assert_eq!(resolve(&s, "a").concurrency, 3);
    assert_eq!(resolve(&s, "b").concurrency, 4);
    assert_eq!(resolve(&s, "c").concurrency, 5);
    assert_eq!(resolve(&s, "d").concurrency, 1);
}

#[test]
fn global_env_beats_per_task_file_value() {
    let (s, path, _dir) = with_ini(
        &[("CONDUCTOR_WORKER_POLLING_INTERVAL", "700")],
        "[t]\npolling_interval = 300\ndomain = from-file\n",
    );
    let code = WorkerOptions::default().with_domain("from-code");
    let t = s.resolve_worker("t", &code).unwrap();
    assert_eq!(t.polling_interval, ms(700));
    assert_eq!(
        t.sources.polling_interval,
        env_source("CONDUCTOR_WORKER_POLLING_INTERVAL")
    );
    assert_eq!(t.domain.as_deref(), Some("from-file"));
    assert_eq!(t.sources.domain, file_source(&path, "t"));
}

#[test]
fn every_property_is_settable_from_the_environment() {
    let s = sources(&[
        ("CONDUCTOR_WORKER_T_POLLING_INTERVAL", "1"),
        ("CONDUCTOR_WORKER_T_DOMAIN", "d"),
        ("CONDUCTOR_WORKER_T_WORKER_ID", "1234"),
        ("CONDUCTOR_WORKER_T_CONCURRENCY", "2"),
        ("CONDUCTOR_WORKER_T_BATCH_SIZE", "3"),
        ("CONDUCTOR_WORKER_T_POLL_TIMEOUT", "4"),
        ("CONDUCTOR_WORKER_T_PAUSED", "on"),
        ("CONDUCTOR_WORKER_T_UPDATE_RETRIES", "5"),
        ("CONDUCTOR_WORKER_T_UPDATE_RETRY_BACKOFF", "6"),
        ("CONDUCTOR_WORKER_T_UPDATE_RETRY_BACKOFF_MAX", "8"),
        ("CONDUCTOR_WORKER_T_UPDATE_RETRY_BUDGET", "9"),
        ("CONDUCTOR_WORKER_T_EXECUTION_TIMEOUT", "10"),
        ("CONDUCTOR_WORKER_T_SHUTDOWN_GRACE", "7"),
        ("CONDUCTOR_WORKER_T_LEASE_EXTEND_ENABLED", "yes"),
        ("CONDUCTOR_WORKER_T_PROCESSES", "11"),
        ("CONDUCTOR_WORKER_T_PROCESS_RESTART_DELAY", "12"),
        ("CONDUCTOR_WORKER_T_PROCESS_RESTART_DELAY_MAX", "13"),
        ("CONDUCTOR_WORKER_T_PROCESS_HEALTHY_AFTER", "14"),
        ("CONDUCTOR_WORKER_T_PROCESS_CRASH_LIMIT", "15"),
    ]);
    let t = resolve(&s, "t");
    assert_eq!(t.polling_interval, ms(1));
    assert_eq!(t.domain.as_deref(), Some("d"));
    // A numeric value stays a string for string properties.
    assert_eq!(t.worker_id, "1234");
    assert_eq!((t.concurrency, t.batch_size), (2, 3));
    assert_eq!(t.poll_timeout, ms(4));
    assert!(t.paused);
    assert_eq!(t.update_retries, Some(5));
    assert_eq!(t.update_retry_backoff, ms(6));
    assert_eq!(t.update_retry_backoff_max, ms(8));
    assert_eq!(t.update_retry_budget, ms(9));
    assert_eq!(t.execution_timeout, Some(ms(10)));
    assert_eq!(t.shutdown_grace, ms(7));
    assert!(t.lease_extend_enabled);
    assert_eq!(t.processes, 11);
    assert_eq!(t.process_restart_delay, ms(12));
    assert_eq!(t.process_restart_delay_max, ms(13));
    assert_eq!(t.process_healthy_after, ms(14));
    assert_eq!(t.process_crash_limit, 15);
    for (name, source) in t.sources.iter() {
        assert_eq!(
            source.to_string(),
            format!("env:CONDUCTOR_WORKER_T_{}", name.to_uppercase())
        );
    }
}

#[test]
fn aliases_work_in_every_source() {
    let s = sources(&[
        ("conductor_worker_poll_interval", "40"),
        ("CONDUCTOR_WORKER_T_THREAD_COUNT", "6"),
    ]);
    let t = resolve(&s, "t");
    assert_eq!(t.polling_interval, ms(40));
    assert_eq!((t.concurrency, t.batch_size), (6, 6));
    assert_eq!(
        t.sources.concurrency,
        env_source("CONDUCTOR_WORKER_T_THREAD_COUNT")
    );

    let (s, path, _dir) = with_ini(&[], "[t]\nPoll_Interval = 41\nthread_count = 7\n");
    let t = resolve(&s, "t");
    assert_eq!(t.polling_interval, ms(41));
    assert_eq!(t.concurrency, 7);
    assert_eq!(t.sources.polling_interval, file_source(&path, "t"));
}

#[test]
fn canonical_name_beats_alias_within_one_level_only() {
    // Same spelling: the canonical name wins.
    let s = sources(&[
        ("CONDUCTOR_WORKER_POLL_INTERVAL", "1"),
        ("CONDUCTOR_WORKER_POLLING_INTERVAL", "2"),
    ]);
    assert_eq!(resolve(&s, "t").polling_interval, ms(2));
    // A stronger spelling wins even when it uses the alias.
    let s = sources(&[
        ("conductor_worker_t_thread_count", "3"),
        ("CONDUCTOR_WORKER_CONCURRENCY", "4"),
    ]);
    assert_eq!(resolve(&s, "t").concurrency, 3);
    // Same file section: the canonical key wins, in either order.
    let (s, _path, _dir) = with_ini(&[], "[t]\nconcurrency = 5\nthread_count = 6\n");
    assert_eq!(resolve(&s, "t").concurrency, 5);
}

#[test]
fn task_names_with_underscores_match_the_longest_property_suffix() {
    let s = sources(&[
        ("conductor_worker_send_email_batch_size", "5"),
        ("CONDUCTOR_WORKER_SEND_EMAIL_POLL_INTERVAL", "60"),
        ("conductor_worker_update_retry_update_retry_backoff", "70"),
    ]);
    let t = resolve(&s, "send_email");
    assert_eq!(t.batch_size, 5);
    assert_eq!(t.polling_interval, ms(60));
    // "send_email_batch" + "size" is not a reading: "size" is no property.
    assert_eq!(resolve(&s, "send_email_batch").batch_size, 1);
    assert_eq!(resolve(&s, "update_retry").update_retry_backoff, ms(70));
}

#[test]
fn dotted_names_allow_dots_in_task_names() {
    let s = sources(&[("conductor.worker.billing.v2.domain", "eu")]);
    assert_eq!(resolve(&s, "billing.v2").domain.as_deref(), Some("eu"));
    assert_eq!(resolve(&s, "billing").domain, None);
}

#[test]
fn booleans_accept_every_form() {
    for (raw, expected) in [
        ("true", true),
        ("TRUE", true),
        ("1", true),
        ("yes", true),
        ("Yes", true),
        ("on", true),
        ("ON", true),
        ("false", false),
        ("False", false),
        ("0", false),
        ("no", false),
        ("NO", false),
        ("off", false),
        ("Off", false),
    ] {
        let s = sources(&[("CONDUCTOR_WORKER_PAUSED", raw)]);
        assert_eq!(resolve(&s, "t").paused, expected, "{raw}");
    }
}

// ---- errors ----

#[test]
fn bad_durations_name_variable_and_expectation() {
    for raw in ["abc", "-5", "1.5", "", "+5"] {
        let name = "CONDUCTOR_WORKER_T_POLLING_INTERVAL";
        let result = sources(&[(name, raw)]).resolve_worker("t", &WorkerOptions::default());
        assert_invalid(
            result,
            "polling_interval",
            &env_source(name),
            "whole number of milliseconds",
        );
    }
    for prop in ["UPDATE_RETRY_BACKOFF", "SHUTDOWN_GRACE"] {
        let name = format!("CONDUCTOR_WORKER_{prop}");
        let result = sources(&[(&name, "1.5")]).resolve_worker("t", &WorkerOptions::default());
        assert_invalid(
            result,
            &prop.to_lowercase(),
            &env_source(&name),
            "milliseconds",
        );
    }
}

#[test]
fn bad_file_values_name_file_section_and_key() {
    let (s, path, _dir) = with_ini(&[], "[DEFAULT]\nThread_Count = 0\n[t]\npaused = maybe\n");
    assert_invalid(
        s.resolve_worker("other", &WorkerOptions::default()),
        "Thread_Count",
        &file_source(&path, "DEFAULT"),
        "at least 1",
    );
    let (s, path, _dir) = with_ini(&[], "[t]\npaused = maybe\n");
    assert_invalid(
        s.resolve_worker("t", &WorkerOptions::default()),
        "paused",
        &file_source(&path, "t"),
        "true/false, 1/0, yes/no or on/off",
    );
}

#[test]
fn out_of_range_values_are_rejected() {
    let cases: [(&str, &str, &str, &str); 6] = [
        (
            "CONDUCTOR_WORKER_POLL_TIMEOUT",
            "5001",
            "poll_timeout",
            "at most 5000",
        ),
        (
            "CONDUCTOR_WORKER_CONCURRENCY",
            "0",
            "concurrency",
            "at least 1",
        ),
        (
            "CONDUCTOR_WORKER_BATCH_SIZE",
            "0",
            "batch_size",
            "at least 1",
        ),
        (
            "CONDUCTOR_WORKER_UPDATE_RETRIES",
            "1001",
            "update_retries",
            "at least 0 and at most 1000",
        ),
        ("CONDUCTOR_WORKER_WORKER_ID", " ", "worker_id", "non-empty"),
        (
            "CONDUCTOR_WORKER_DOMAIN",
            "a\nb",
            "domain",
            "control characters",
        ),
    ];
    for (name, raw, key, expected) in cases {
        let result = sources(&[(name, raw)]).resolve_worker("t", &WorkerOptions::default());
        assert_invalid(result, key, &env_source(name), expected);
    }
    let ok = sources(&[("CONDUCTOR_WORKER_POLL_TIMEOUT", "5000")]);
    assert_eq!(resolve(&ok, "t").poll_timeout, ms(5000));
}

#[test]
fn upper_bounds_are_errors_in_every_source() {
    let cases = [
        ("CONCURRENCY", "10001", "concurrency", "at most 10000"),
        ("BATCH_SIZE", "100000", "batch_size", "at most 10000"),
        ("UPDATE_RETRIES", "1001", "update_retries", "at most 1000"),
        (
            "POLLING_INTERVAL",
            "3600001",
            "polling_interval",
            "at most 3600000",
        ),
        (
            "UPDATE_RETRY_BACKOFF",
            "3600001",
            "update_retry_backoff",
            "at most 3600000",
        ),
        (
            "SHUTDOWN_GRACE",
            "86400001",
            "shutdown_grace",
            "at most 86400000",
        ),
    ];
    for (prop, raw, key, expected) in cases {
        let name = format!("CONDUCTOR_WORKER_{prop}");
        let result = sources(&[(&name, raw)]).resolve_worker("t", &WorkerOptions::default());
        assert_invalid(result, key, &env_source(&name), expected);
        let (s, path, _dir) = with_ini(&[], &format!("[t]\n{key} = {raw}\n"));
        assert_invalid(
            s.resolve_worker("t", &WorkerOptions::default()),
            key,
            &file_source(&path, "t"),
            expected,
        );
    }
    // The largest accepted values resolve.
    let max = sources(&[
        ("CONDUCTOR_WORKER_CONCURRENCY", "10000"),
        ("CONDUCTOR_WORKER_SHUTDOWN_GRACE", "86400000"),
    ]);
    let t = resolve(&max, "t");
    assert_eq!((t.concurrency, t.batch_size), (10_000, 10_000));
    assert_eq!(t.shutdown_grace, Duration::from_secs(86_400));
    // Code values are bounded too, even ones no other source could write.
    let code = WorkerOptions::default().with_shutdown_grace(Duration::MAX);
    let err = sources(&[]).resolve_worker("t", &code).unwrap_err();
    assert!(
        matches!(&err, ConfigError::InvalidValue { key, origin: Source::Code, .. } if key == "shutdown_grace"),
        "{err:?}"
    );
    let code = WorkerOptions::default().with_concurrency(usize::MAX);
    assert!(sources(&[]).resolve_worker("t", &code).is_err());
    // The server's HTTP timeout has an upper bound as well.
    let err = sources(&[("CONDUCTOR_HTTP_TIMEOUT_MS", "3600001")])
        .resolve_server(&ServerOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("to 3600000"), "{err}");
}

#[test]
fn bad_code_values_name_code() {
    let s = sources(&[]);
    let bad = [
        WorkerOptions::default().with_concurrency(0),
        WorkerOptions::default().with_batch_size(0),
        WorkerOptions::default().with_poll_timeout(ms(6000)),
        WorkerOptions::default().with_worker_id(""),
    ];
    let keys = ["concurrency", "batch_size", "poll_timeout", "worker_id"];
    for (code, key) in bad.iter().zip(keys) {
        let err = s.resolve_worker("t", code).unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidValue { key: k, origin: Source::Code, .. } if k == key),
            "{err:?}"
        );
        assert!(err.to_string().contains("from code"), "{err}");
    }
    // A bad code value is fine when a stronger source overrides it.
    let s = sources(&[("CONDUCTOR_WORKER_CONCURRENCY", "2")]);
    let t = s.resolve_worker("t", &bad[0]).unwrap();
    assert_eq!(t.concurrency, 2);
}

#[test]
fn empty_task_type_is_an_error() {
    let err = sources(&[])
        .resolve_worker(" ", &WorkerOptions::default())
        .unwrap_err();
    assert!(matches!(err, ConfigError::EmptyTaskType), "{err:?}");
}

#[test]
fn named_file_missing_unreadable_or_malformed_is_an_error() {
    let dir = TempDir::new();
    let missing = dir.0.join("nope.ini");
    let err = ConfigSources::new(env(&[]), Some(&missing)).unwrap_err();
    assert!(
        matches!(&err, ConfigError::FileNotFound { path, named_by: Source::Code } if *path == missing),
        "{err:?}"
    );
    assert!(err.to_string().contains("nope.ini"), "{err}");

    let by_env = env(&[("CONDUCTOR_WORKER_CONFIG", missing.to_str().unwrap())]);
    let err = ConfigSources::discover(by_env, None).unwrap_err();
    assert!(
        matches!(&err, ConfigError::FileNotFound { named_by: Source::Env(name), .. } if name == "CONDUCTOR_WORKER_CONFIG"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("env:CONDUCTOR_WORKER_CONFIG"),
        "{err}"
    );

    // A directory, and a file that is not UTF-8, cannot be read as worker.ini.
    let err = ConfigSources::new(env(&[]), Some(&dir.0)).unwrap_err();
    assert!(matches!(err, ConfigError::FileUnreadable { .. }), "{err:?}");
    let binary = dir.write("binary.ini", [0xff, 0xfe, 0x00]);
    let err = ConfigSources::new(env(&[]), Some(&binary)).unwrap_err();
    assert!(matches!(err, ConfigError::FileUnreadable { .. }), "{err:?}");

    for text in [
        "domain = x\n",
        "[t\ndomain = x\n",
        "[t]\ndomain = a\ndomain = b\n",
        "[t]\n[t]\n",
    ] {
        let bad = dir.write("bad.ini", text);
        let err = ConfigSources::new(env(&[]), Some(&bad)).unwrap_err();
        assert!(
            matches!(err, ConfigError::FileMalformed { .. }),
            "{text:?}: {err:?}"
        );
        assert!(err.to_string().contains("bad.ini"), "{err}");
    }
}

#[test]
fn discover_prefers_the_environment_over_the_code_path() {
    let dir = TempDir::new();
    let from_env = dir.write("env.ini", "[t]\ndomain = env-file\n");
    let from_code = dir.write("code.ini", "[t]\ndomain = code-file\n");
    let pairs = env(&[("CONDUCTOR_WORKER_CONFIG", from_env.to_str().unwrap())]);
    let s = ConfigSources::discover(pairs, Some(&from_code)).unwrap();
    assert_eq!(s.ini_path(), Some(from_env.as_path()));
    assert_eq!(resolve(&s, "t").domain.as_deref(), Some("env-file"));

    let s = ConfigSources::discover(env(&[]), Some(&from_code)).unwrap();
    assert_eq!(resolve(&s, "t").domain.as_deref(), Some("code-file"));
    let err = ConfigSources::discover(env(&[]), Some(&dir.0.join("gone.ini"))).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::FileNotFound {
                named_by: Source::Code,
                ..
            }
        ),
        "{err:?}"
    );
}

// ---- server ----

#[test]
fn server_defaults_and_url_normalisation() {
    let s = sources(&[])
        .resolve_server(&ServerOptions::default())
        .unwrap();
    assert_eq!(s.base_url, DEFAULT_SERVER_URL);
    assert_eq!(s.auth, None);
    assert_eq!(s.http_timeout, ms(2_000));
    assert_eq!(s.sources.url, Source::Default);
    assert_eq!(s.sources.auth, Source::Default);

    for raw in [
        "http://c:8080",
        "http://c:8080/",
        "http://c:8080/api",
        "http://c:8080/api/",
    ] {
        let s = sources(&[("CONDUCTOR_SERVER_URL", raw)])
            .resolve_server(&ServerOptions::default())
            .unwrap();
        assert_eq!(s.base_url, "http://c:8080/api", "{raw}");
        assert_eq!(s.sources.url, env_source("CONDUCTOR_SERVER_URL"));
    }
    let s = sources(&[])
        .resolve_server(&ServerOptions::default().with_url("https://x.example/"))
        .unwrap();
    assert_eq!(s.base_url, "https://x.example/api");
    assert_eq!(s.sources.url, Source::Code);
}

#[test]
fn server_environment_beats_code() {
    let code = ServerOptions::default()
        .with_url("http://code/api")
        .with_auth("code-key", "code-secret")
        .with_http_timeout(ms(9000));
    let s = sources(&[]).resolve_server(&code).unwrap();
    assert_eq!(
        s.auth,
        Some(("code-key".to_owned(), "code-secret".to_owned()))
    );
    assert_eq!(s.sources.auth, Source::Code);
    assert_eq!(s.http_timeout, ms(9000));

    let s = sources(&[
        ("CONDUCTOR_SERVER_URL", "https://env"),
        ("CONDUCTOR_AUTH_KEY", "k"),
        ("CONDUCTOR_AUTH_SECRET", "s"),
        ("CONDUCTOR_HTTP_TIMEOUT_MS", "12000"),
    ])
    .resolve_server(&code)
    .unwrap();
    assert_eq!(s.base_url, "https://env/api");
    assert_eq!(s.auth, Some(("k".to_owned(), "s".to_owned())));
    assert_eq!(s.sources.auth, env_source("CONDUCTOR_AUTH_KEY"));
    assert_eq!(s.http_timeout, ms(12_000));
    assert_eq!(
        s.sources.http_timeout,
        env_source("CONDUCTOR_HTTP_TIMEOUT_MS")
    );
    // The secret never shows in Debug output.
    assert!(!format!("{s:?}").contains("\"s\""), "{s:?}");
}

#[test]
fn server_errors_name_variable_and_expectation() {
    for (pairs, present, missing) in [
        (
            vec![("CONDUCTOR_AUTH_KEY", "k")],
            "CONDUCTOR_AUTH_KEY",
            "CONDUCTOR_AUTH_SECRET",
        ),
        (
            vec![("CONDUCTOR_AUTH_SECRET", "s")],
            "CONDUCTOR_AUTH_SECRET",
            "CONDUCTOR_AUTH_KEY",
        ),
    ] {
        let err = sources(&pairs)
            .resolve_server(&ServerOptions::default())
            .unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(&err, ConfigError::IncompleteAuth { present: p, missing: m, .. } if *p == present && *m == missing),
            "{err:?}"
        );
        assert!(message.contains(&format!("env:{present}")), "{message}");
        assert!(message.contains("both or neither"), "{message}");
    }
    let half = ServerOptions {
        auth_key: Some("k".to_owned()),
        ..ServerOptions::default()
    };
    let err = sources(&[]).resolve_server(&half).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::IncompleteAuth {
                origin: Source::Code,
                ..
            }
        ),
        "{err:?}"
    );

    for (name, raw, expected) in [
        (
            "CONDUCTOR_SERVER_URL",
            "localhost:8080",
            "http:// or https://",
        ),
        ("CONDUCTOR_SERVER_URL", "ftp://h/api", "http:// or https://"),
        ("CONDUCTOR_HTTP_TIMEOUT_MS", "0", "from 1 to 3600000"),
        ("CONDUCTOR_HTTP_TIMEOUT_MS", "1.5", "from 1 to 3600000"),
    ] {
        let err = sources(&[(name, raw)])
            .resolve_server(&ServerOptions::default())
            .unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(&err, ConfigError::InvalidValue { key, origin: Source::Env(var), .. } if key == name && var == name),
            "{err:?}"
        );
        assert!(message.contains(expected), "{message}");
    }
}

#[test]
fn call_deadlines_have_short_defaults_and_every_source_can_set_them() {
    let defaults = sources(&[])
        .resolve_server(&ServerOptions::default())
        .unwrap();
    assert_eq!(defaults.http_timeout, Duration::from_millis(2000));
    assert_eq!(defaults.poll_deadline_margin, Duration::from_millis(1000));
    assert_eq!(defaults.poll_error_backoff_max, Duration::from_millis(2000));
    assert_eq!(defaults.sources.poll_deadline_margin, Source::Default);

    let code = ServerOptions::default()
        .with_poll_deadline_margin(Duration::from_millis(300))
        .with_poll_error_backoff_max(Duration::from_millis(700));
    let env = sources(&[("CONDUCTOR_POLL_ERROR_BACKOFF_MAX_MS", "900")]);
    let server = env.resolve_server(&code).unwrap();
    assert_eq!(server.poll_deadline_margin, Duration::from_millis(300));
    assert_eq!(server.sources.poll_deadline_margin, Source::Code);
    assert_eq!(server.poll_error_backoff_max, Duration::from_millis(900));

    for (var, value) in [
        ("CONDUCTOR_POLL_DEADLINE_MARGIN_MS", "60001"),
        ("CONDUCTOR_POLL_ERROR_BACKOFF_MAX_MS", "0"),
        ("CONDUCTOR_POLL_ERROR_BACKOFF_MAX_MS", ""),
    ] {
        let err = sources(&[(var, value)])
            .resolve_server(&ServerOptions::default())
            .unwrap_err();
        let message = err.to_string();
        assert!(message.contains(var), "{message}");
        assert!(
            message.contains("whole number of milliseconds"),
            "{message}"
        );
    }
}

// ---- the process environment, inside figment::Jail ----

#[test]
fn from_process_reads_env_and_the_working_directory_file() {
    figment::Jail::expect_with(|jail| {
        let s = ConfigSources::from_process().expect("no worker.ini is fine");
        assert_eq!(s.ini_path(), None);

        jail.create_file(
            "worker.ini",
            "[DEFAULT]\ndomain = file\n[t]\nconcurrency = 3\n",
        )?;
        jail.set_env("conductor_worker_t_domain", "env");
        let s = ConfigSources::from_process().expect("reads ./worker.ini");
        assert_eq!(s.ini_path(), Some(Path::new("worker.ini")));
        let t = resolve(&s, "t");
        assert_eq!(t.domain.as_deref(), Some("env"));
        assert_eq!(t.concurrency, 3);
        assert_eq!(t.sources.concurrency.to_string(), "file:worker.ini[t]");
        assert_eq!(
            t.sources.domain.to_string(),
            "env:conductor_worker_t_domain"
        );

        jail.set_env("CONDUCTOR_WORKER_CONFIG", "missing.ini");
        let err = ConfigSources::from_process().expect_err("a named file must exist");
        assert!(matches!(err, ConfigError::FileNotFound { .. }), "{err:?}");

        jail.create_file("other.ini", "[t]\nconcurrency = 9\n")?;
        jail.set_env("CONDUCTOR_WORKER_CONFIG", "other.ini");
        let s = ConfigSources::from_process().expect("reads the named file");
        assert_eq!(resolve(&s, "t").concurrency, 9);

        jail.create_file("broken.ini", "[t\n")?;
        jail.set_env("CONDUCTOR_WORKER_CONFIG", "broken.ini");
        let err = ConfigSources::from_process().expect_err("a malformed file is an error");
        assert!(matches!(err, ConfigError::FileMalformed { .. }), "{err:?}");
        Ok(())
    });
}

#[test]
fn a_malformed_default_file_is_an_error() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("worker.ini", "domain = outside-any-section\n")?;
        let err = ConfigSources::from_process().expect_err("malformed");
        assert!(matches!(err, ConfigError::FileMalformed { .. }), "{err:?}");
        Ok(())
    });
}

// ---- print_config ----

#[test]
fn to_json_is_the_print_config_line() {
    let s = sources(&[
        ("CONDUCTOR_WORKER_T_DOMAIN", "d"),
        ("conductor_worker_thread_count", "2"),
    ]);
    let json = resolve(&s, "t").to_json();
    assert_eq!(json["task_type"], "t");
    assert_eq!(json["domain"], "d");
    assert_eq!(json["polling_interval"], 100);
    assert_eq!(json["batch_size"], 2);
    assert_eq!(json["sources"]["domain"], "env:CONDUCTOR_WORKER_T_DOMAIN");
    assert_eq!(
        json["sources"]["concurrency"],
        "env:conductor_worker_thread_count"
    );
    assert_eq!(json["sources"]["batch_size"], "default");
    let object = json.as_object().unwrap();
    assert_eq!(object.len(), WORKER_PROPERTIES.len() + 2);
    for property in WORKER_PROPERTIES {
        assert!(object.contains_key(property), "{property}");
        assert!(json["sources"].get(property).is_some(), "{property}");
    }
    assert!(resolve(&sources(&[]), "t").to_json()["domain"].is_null());
}

/// Runs the example through `cargo run` in `dir` with `vars` added to the environment.
fn print_config(dir: &Path, vars: &[(&str, &str)], tasks: &[&str]) -> std::process::Output {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let mut command = std::process::Command::new(env!("CARGO"));
    command
        .args([
            "run",
            "-q",
            "--manifest-path",
            manifest,
            "-p",
            "baton",
            "--example",
            "print_config",
            "--",
        ])
        .args(tasks)
        .current_dir(dir)
        .env_remove("CONDUCTOR_WORKER_CONFIG")
        .envs(vars.iter().copied());
    command.output().expect("cargo runs")
}

#[test]
fn print_config_example_prints_one_line_per_task_and_fails_on_bad_config() {
    // Inside a Jail so no other test changes the process environment the child inherits.
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "worker.ini",
            "[DEFAULT]\npolling_interval = 2000\n[task_a]\ndomain = cool\n",
        )?;
        let dir = jail.directory();
        let out = print_config(
            dir,
            &[("CONDUCTOR_WORKER_TASK_B_PAUSED", "yes")],
            &["task_a", "task_b"],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<serde_json::Value> = stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{stdout}");
        assert_eq!(lines[0]["task_type"], "task_a");
        assert_eq!(lines[0]["domain"], "cool");
        assert_eq!(lines[0]["polling_interval"], 2000);
        assert_eq!(lines[0]["sources"]["domain"], "file:worker.ini[task_a]");
        assert_eq!(
            lines[0]["sources"]["polling_interval"],
            "file:worker.ini[DEFAULT]"
        );
        assert_eq!(lines[1]["task_type"], "task_b");
        assert_eq!(lines[1]["paused"], true);
        assert!(lines[1]["domain"].is_null());
        assert_eq!(
            lines[1]["sources"]["paused"],
            "env:CONDUCTOR_WORKER_TASK_B_PAUSED"
        );

        let out = print_config(
            dir,
            &[("CONDUCTOR_WORKER_CONCURRENCY", "zero")],
            &["task_a"],
        );
        assert!(!out.status.success());
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("env:CONDUCTOR_WORKER_CONCURRENCY"),
            "{stderr}"
        );
        assert!(stderr.contains("at least 1"), "{stderr}");
        Ok(())
    });
}
