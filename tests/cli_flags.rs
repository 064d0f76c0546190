//! Flag values no run can use are refused at argument parsing, naming the flag, before any
//! import, download, traffic or panic: `bench log`, the encoder's `--max-tokens` and
//! `--extra-layers`, `loop --label-share`, `eval`'s off-policy, guard and split flags and its
//! `--report` / `--plot` folders, `onboard --probes`, and `route`'s constraints. Most cases point `--data` at a folder that does not exist, so that a
//! flag which is not checked up front shows up as a data error instead of a slow run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{switchyard, text};

const FIXTURE: &str = "tests/fixtures/routellm-gsm8k";
const NO_DATA: &str = "tests/fixtures/no-such-dataset";

/// Runs `args`, expects a clean refusal (no panic) whose message has every one of `needles`.
fn refused(args: &[&str], needles: &[&str]) -> String {
    let out = switchyard(args);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{args:?} ran: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{args:?}: no `{needle}` in {stderr}"
        );
    }
    stderr
}

#[test]
fn bench_log_refuses_runs_of_no_rows_or_no_end() {
    refused(
        &["bench", "log", "--rate", "1", "--seconds", "0.4"],
        &["--rate", "--seconds", "0 rows"],
    );
    refused(&["bench", "log", "--rate", "inf"], &["--rate", "finite"]);
    refused(&["bench", "log", "--seconds", "-1"], &["--seconds"]);
}

#[test]
fn encoder_settings_out_of_range_name_the_flag_not_the_weights() {
    for (flag, value) in [
        ("--max-tokens", "1024"),
        ("--max-tokens", "1"),
        ("--extra-layers", "7"),
    ] {
        let stderr = refused(
            &["train", "--data", NO_DATA, "--out", "unused", flag, value],
            &[flag],
        );
        assert!(!stderr.contains("config.json"), "{stderr}");
        assert!(!stderr.contains("model fetch"), "{stderr}");
    }
}

#[test]
fn loop_refuses_a_label_share_that_leaves_nothing_to_refit_on() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("loop");
    let stderr = refused(
        &[
            "loop",
            "--data",
            FIXTURE,
            "--rounds",
            "1",
            "--per-round",
            "4",
            "--label-share",
            "0",
            "--out",
            out.to_str().unwrap(),
        ],
        &["--label-share"],
    );
    // Refused before any traffic: no log was started.
    assert!(!out.join("outcomes.sqlite").exists(), "{stderr}");
}

#[test]
fn eval_refuses_off_policy_flags_without_a_log_and_bad_counts() {
    for extra in [
        &["--router", "r"][..],
        &["--clip", "2"],
        &["--metric", "correct"],
        &["--arm", "a", "--router", "r"],
    ] {
        let mut args = vec!["eval", "--data", NO_DATA];
        args.extend_from_slice(extra);
        refused(&args, &["--from-log"]);
    }
    for (flag, value) in [("--seeds", "0"), ("--guard-folds", "1")] {
        refused(&["eval", "--data", NO_DATA, flag, value], &[flag]);
    }
    for clip in ["0.5", "-1", "inf"] {
        refused(
            &[
                "eval",
                "--from-log",
                "no.db",
                "--router",
                "r",
                "--clip",
                clip,
            ],
            &["--clip", "at least 1"],
        );
    }
}

#[test]
fn eval_refuses_a_test_fraction_or_decontaminate_threshold_out_of_range() {
    for value in ["0", "1", "NaN", "-0.2", "1.5", "inf"] {
        refused(
            &["eval", "--data", NO_DATA, "--test-fraction", value],
            &["--test-fraction", "above 0 and below 1"],
        );
        // onboard holds prompts out the same way.
        refused(
            &[
                "onboard",
                "--data",
                NO_DATA,
                "--model",
                "m",
                "--test-fraction",
                value,
            ],
            &["--test-fraction", "above 0 and below 1"],
        );
    }
    for value in ["NaN", "2", "-1.5", "inf"] {
        refused(
            &["eval", "--data", NO_DATA, "--decontaminate", value],
            &["--decontaminate", "from -1 to 1"],
        );
    }
}

#[test]
fn eval_refuses_a_report_or_plot_in_a_folder_that_does_not_exist() {
    for flag in ["--report", "--plot"] {
        refused(
            &["eval", "--data", NO_DATA, flag, "no-such-folder/sub/out.md"],
            &[flag, "no-such-folder/sub", "does not exist"],
        );
    }
}

#[test]
fn onboard_refuses_a_probe_count_of_zero() {
    for probes in ["0", "50,0", "-3"] {
        refused(
            &[
                "onboard", "--data", NO_DATA, "--model", "m", "--probes", probes,
            ],
            &["--probes", "at least 1"],
        );
    }
}

#[test]
fn eval_refuses_guard_and_holdout_flags_its_run_would_ignore() {
    for extra in [
        &["--guard-folds", "4"][..],
        &["--guard-by-task"],
        &["--guard-candidates", "mf"],
        &["--guard-min-gain", "0.01"],
    ] {
        let mut args = vec!["eval", "--data", NO_DATA];
        args.extend_from_slice(extra);
        refused(&args, &["--guarded"]);
    }
    refused(
        &["eval", "--data", NO_DATA, "--holdout-task", "mmlu"],
        &["--holdout-task", "--split loto"],
    );
}

#[test]
fn route_refuses_constraints_the_gateway_would_and_an_ignored_artifact() {
    for (flag, value) in [
        ("--min-quality", "1.5"),
        ("--min-quality", "NaN"),
        ("--max-cost-usd", "-1"),
        ("--max-latency-ms", "inf"),
    ] {
        refused(&["route", "hi", "--priors-only", flag, value], &[flag]);
    }
    refused(
        &["route", "hi", "--priors-only", "--artifact", "artifacts/x"],
        &["--priors-only", "--artifact"],
    );
}

#[test]
fn replay_refuses_an_excluded_task_that_matches_nothing() {
    refused(
        &[
            "replay-provider",
            "--data",
            FIXTURE,
            "--exclude-task",
            "gqpa",
        ],
        &["--exclude-task gqpa", "matched no prompt", "gsm8k"],
    );
}

/// `--latency-scale` must be a finite number from 0 to 1000 (`inf` and `1e300` panicked in the
/// replay server's request handler, NaN was taken as 0 without a word, and a negative value
/// got clap's "unexpected argument").
#[test]
fn replay_refuses_a_latency_scale_that_is_not_finite_or_out_of_range() {
    for value in ["inf", "1e300", "NaN", "-3", "1001", "fast"] {
        let stderr = refused(
            &[
                "replay-provider",
                "--data",
                NO_DATA,
                "--latency-scale",
                value,
            ],
            &["--latency-scale", "finite number from 0 to 1000"],
        );
        assert!(!stderr.contains("no-such-dataset"), "{value}: {stderr}");
    }
}

/// Messages name the flag (or the variable) the value came from.
#[test]
fn errors_name_the_flag_or_variable_the_value_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.sqlite");
    let db = db.to_str().unwrap();
    let made = switchyard(&["keys", "create", "--db", db, "--name", "first"]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    refused(
        &[
            "keys", "create", "--db", db, "--name", "x", "--period", "day",
        ],
        &["--period", "--budget-usd"],
    );
    // A negative value reaches the range check instead of clap's "unexpected argument".
    let stderr = refused(
        &[
            "keys",
            "create",
            "--db",
            db,
            "--name",
            "x",
            "--budget-usd",
            "-5",
        ],
        &["--budget-usd", "positive"],
    );
    assert!(!stderr.contains("unexpected argument"), "{stderr}");
    let stderr = refused(
        &["spend", "--db", db, "--since", "-1d"],
        &["--since", "24h"],
    );
    assert!(!stderr.contains("unexpected argument"), "{stderr}");
    refused(
        &[
            "route",
            "hi",
            "--priors-only",
            "--candidates",
            "nonexistent-model",
        ],
        &["--candidates", "nonexistent-model", "catalog"],
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["serve", "--priors-only"])
        .env("SWITCHYARD_BIND", "garbage")
        .env("RUST_LOG", "warn")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("SWITCHYARD_BIND"), "{stderr}");
    assert!(stderr.contains("127.0.0.1:8080"), "{stderr}");
}
