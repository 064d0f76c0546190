//! Broken files: every error names the file and the line or row.

use std::path::Path;

use datasets::{
    import_auto, import_llmrouter, import_routellm, import_routerarena, import_routerbench,
    import_routerdc, read_jsonl, Error, Location,
};

fn write(dir: &Path, name: &str, content: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn assert_at(err: &Error, file: &Path, location: Location, needle: &str) {
    match err {
        Error::Malformed {
            path,
            location: l,
            problem,
        } => {
            assert_eq!(path, file);
            assert_eq!(*l, location, "{err}");
            assert!(problem.contains(needle), "{err}");
        }
        other => panic!("unexpected error {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&file.display().to_string()), "{msg}");
}

#[test]
fn routerbench_bad_score_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "bad_test.csv",
        ",sample_id,prompt,eval_name,m,m|total_cost\n0,a.1,\"['x']\",t,1.0,0.1\n1,a.2,\"['y']\",t,maybe,0.1\n",
    );
    let err = import_routerbench(&f).unwrap_err();
    assert_at(&err, &f, Location::Line(3), "column `m`");
    assert!(err.to_string().contains("line 3"), "{err}");
}

#[test]
fn routerbench_missing_column_names_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "x.csv", "sample_id,eval_name,m\n1,t,1\n");
    let err = import_routerbench(&f).unwrap_err();
    assert_at(&err, &f, Location::Line(1), "prompt");
}

#[test]
fn routerbench_ragged_row_is_a_csv_error_with_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "x.csv",
        "sample_id,prompt,eval_name,m\n1,p,t,1\n2,p,t\n",
    );
    let err = import_routerbench(&f).unwrap_err();
    assert_at(&err, &f, Location::Line(3), "CSV");
}

#[test]
fn routellm_bad_boolean_names_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "mmlu_x.csv",
        "prompt,a,b\nq1,True,False\nq2,True,Yes\n",
    );
    let err = import_routellm(&f).unwrap_err();
    assert_at(&err, &f, Location::Line(3), "column `b`");
}

#[test]
fn routerdc_bad_score_names_row() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "t.json",
        r#"[{"question":"a","scores":{"m":1}},{"question":"b","scores":{"m":1.5}}]"#,
    );
    let err = import_routerdc(&f).unwrap_err();
    assert_at(&err, &f, Location::Row(1), "`m`");
    assert!(err.to_string().contains("row 1"), "{err}");
}

#[test]
fn routerdc_invalid_json_names_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "t.json",
        "[\n{\"question\": \"a\",\n \"scores\": {\"m\": }}\n]",
    );
    let err = import_routerdc(&f).unwrap_err();
    assert_at(&err, &f, Location::Line(3), "invalid JSON");
}

#[test]
fn llmrouter_bad_query_file_names_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("dcrouter_preprocessed")).unwrap();
    std::fs::create_dir_all(data.join("example_data/query_data")).unwrap();
    write(
        &data.join("dcrouter_preprocessed"),
        "train.json",
        r#"[{"question":"a","scores":{"m":1}}]"#,
    );
    let q = write(
        &data.join("example_data/query_data"),
        "q_train.jsonl",
        "{\"query\":\"a\",\"task_name\":\"t\"}\n{\"query\":\"b\"}\n",
    );
    let err = import_llmrouter(dir.path()).unwrap_err();
    assert_at(&err, &q, Location::Line(2), "task_name");
}

#[test]
fn routerarena_bad_score_names_line() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("cached_results");
    std::fs::create_dir_all(&results).unwrap();
    let f = write(
        &results,
        "m.jsonl",
        "{\"global_index\":\"A_1\",\"question\":\"q\",\"evaluation_result\":{\"score\":1.0}}\n\n{\"global_index\":\"A_2\",\"question\":\"q\",\"evaluation_result\":{\"score\":\"high\"}}\n",
    );
    let err = import_routerarena(dir.path()).unwrap_err();
    assert_at(&err, &f, Location::Line(3), "score");
}

#[test]
fn routerarena_out_of_scale_score_negative_cost_or_tokens_name_line_and_field() {
    let row = |score: &str, cost: &str, input: &str| {
        format!(
            "{{\"global_index\":\"A_2\",\"question\":\"q\",\"token_usage\":{{\"input_tokens\":{input},\"output_tokens\":5}},\"evaluation_result\":{{\"score\":{score},\"inference_cost\":{cost}}}}}\n"
        )
    };
    let good = row("1.0", "0.001", "10").replace("A_2", "A_1");
    for (bad, needle, value, hint) in [
        (
            row("7.5", "0.001", "10"),
            "evaluation_result.score",
            "7.5",
            "rescale",
        ),
        (
            row("-3", "0.001", "10"),
            "evaluation_result.score",
            "-3",
            "rescale",
        ),
        (
            row("1.0", "-0.5", "10"),
            "evaluation_result.inference_cost",
            "-0.5",
            "is not a cost in USD",
        ),
        (
            row("1.0", "\"inf\"", "10"),
            "evaluation_result.inference_cost",
            "inf",
            "is not a cost in USD",
        ),
        (
            row("1.0", "0.001", "-10"),
            "token_usage.input_tokens",
            "-10",
            "is not a token count",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path().join("cached_results");
        std::fs::create_dir_all(&results).unwrap();
        let f = write(&results, "m.jsonl", &format!("{good}{bad}"));
        let err = import_routerarena(dir.path()).unwrap_err();
        assert_at(&err, &f, Location::Line(2), needle);
        let msg = err.to_string();
        assert!(msg.contains(&format!("`{value}`")), "{msg}");
        assert!(msg.contains(hint), "{msg}");
    }
    // Small overshoots (within 0.05) are still clamped into [0, 1].
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("cached_results");
    std::fs::create_dir_all(&results).unwrap();
    write(
        &results,
        "m.jsonl",
        &format!(
            "{}{}",
            row("-0.02", "0.001", "10"),
            row("1.04", "0", "0").replace("A_2", "A_3")
        ),
    );
    let t = import_routerarena(dir.path()).unwrap();
    let scores: Vec<f64> = t
        .rows
        .iter()
        .map(|r| r.cells[0].as_ref().unwrap().score)
        .collect();
    assert_eq!(scores, [0.0, 1.0]);
    // A prompt twice in one model's file is an error naming both lines (the second replaced
    // the model's cell without a word).
    let f = write(
        &results,
        "m.jsonl",
        &format!("{good}{}", row("0.0", "0.001", "10").replace("A_2", "A_1")),
    );
    let err = import_routerarena(dir.path()).unwrap_err();
    assert_at(&err, &f, Location::Line(2), "`A_1` is already on line 1");
}

#[test]
fn canonical_repeated_id_or_header_model_names_the_lines() {
    let dir = tempfile::tempdir().unwrap();
    let header = "{\"switchyard_outcomes\":1,\"source\":\"s\",\"models\":[\"m\"]}\n";
    let row = |id: &str| {
        format!("{{\"id\":\"{id}\",\"text\":\"x\",\"cells\":{{\"m\":{{\"score\":1.0}}}}}}\n")
    };
    let f = write(
        dir.path(),
        "t.jsonl",
        &format!("{header}{}{}{}", row("same"), row("other"), row("same")),
    );
    let err = read_jsonl(&f).unwrap_err();
    assert_at(
        &err,
        &f,
        Location::Line(4),
        "id `same` is already used on line 2",
    );

    let twice = "{\"switchyard_outcomes\":1,\"source\":\"s\",\"models\":[\"m\",\"n\",\"m\"]}\n";
    let f = write(dir.path(), "t.jsonl", &format!("{twice}{}", row("1")));
    let err = read_jsonl(&f).unwrap_err();
    assert_at(&err, &f, Location::Line(1), "model `m` is listed twice");
}

#[test]
fn csv_column_named_twice_names_both_columns() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "mmlu_x.csv",
        "prompt,a,b,a\nq1,True,False,False\n",
    );
    let err = import_routellm(&f).unwrap_err();
    assert_at(
        &err,
        &f,
        Location::Line(1),
        "column `a` appears twice (columns 2 and 4)",
    );
    let f = write(
        dir.path(),
        "x.csv",
        "sample_id,prompt,eval_name,m,m|total_cost,m\n1,p,t,1,0.1,0\n",
    );
    let err = import_routerbench(&f).unwrap_err();
    assert_at(
        &err,
        &f,
        Location::Line(1),
        "column `m` appears twice (columns 4 and 6)",
    );
}

#[test]
fn canonical_bad_row_names_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "t.jsonl",
        "{\"switchyard_outcomes\":1,\"source\":\"s\",\"models\":[\"m\"]}\n{\"id\":\"1\",\"text\":\"x\",\"cells\":{\"m\":{\"score\":1.0}}}\n{\"id\":\"2\",\"text\":\"x\",\"cells\":{\"m\":{\"score\":1.0,\"colour\":1}}}\n",
    );
    let err = read_jsonl(&f).unwrap_err();
    assert_at(&err, &f, Location::Line(3), "colour");
}

#[test]
fn canonical_negative_cost_latency_or_tokens_name_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let header = "{\"switchyard_outcomes\":1,\"source\":\"s\",\"models\":[\"m\"]}\n";
    let good = "{\"id\":\"1\",\"text\":\"x\",\"cells\":{\"m\":{\"score\":1.0,\"cost_usd\":0.5}}}\n";
    for (field, value, needle) in [
        ("cost_usd", "-0.005", "cost in USD"),
        ("latency_ms", "-3", "latency"),
        ("input_tokens", "-10", "token count"),
        ("output_tokens", "-1", "token count"),
    ] {
        let bad = format!(
            "{{\"id\":\"2\",\"text\":\"x\",\"cells\":{{\"m\":{{\"score\":1.0,\"{field}\":{value}}}}}}}\n"
        );
        let f = write(dir.path(), "t.jsonl", &format!("{header}{good}{bad}"));
        let err = read_jsonl(&f).unwrap_err();
        assert_at(&err, &f, Location::Line(3), &format!("cells.`m`.{field}"));
        let msg = err.to_string();
        assert!(msg.contains(value), "{msg}");
        assert!(msg.contains(needle), "{msg}");
        assert!(
            msg.contains("fix the value or leave the field out"),
            "{msg}"
        );
    }
}

#[test]
fn missing_and_unknown_paths() {
    let dir = tempfile::tempdir().unwrap();
    let err = import_auto(&dir.path().join("nope.csv")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(err.to_string().contains("nope.csv"), "{err}");
    let f = write(dir.path(), "x.parquet", "");
    let err = import_auto(&f).unwrap_err();
    assert!(matches!(err, Error::UnknownFormat { .. }), "{err}");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(matches!(
        import_auto(&empty).unwrap_err(),
        Error::UnknownFormat { .. }
    ));
}

#[test]
fn csv_errors_name_the_right_line_with_crlf_endings_and_a_byte_order_mark() {
    // Python's csv module writes `\r\n`; Windows tools add a BOM. The csv crate's own line
    // count missed the header's `\r\n`, so every record was reported one line too early.
    let dir = tempfile::tempdir().unwrap();
    for (name, nl, bom) in [
        ("lf_test.csv", "\n", ""),
        ("crlf_test.csv", "\r\n", ""),
        ("bom_crlf_test.csv", "\r\n", "\u{feff}"),
        ("bom_lf_test.csv", "\n", "\u{feff}"),
    ] {
        let content = format!(
            "{bom}sample_id,prompt,eval_name,m{nl}a,p,t,1{nl}b,\"two{nl}lines\",t,0{nl}c,p,t,1{nl}d,p,t,2{nl}"
        );
        let f = write(dir.path(), name, &content);
        let err = import_routerbench(&f).unwrap_err();
        assert_at(&err, &f, Location::Line(6), "column `m`");
        let rl = write(
            dir.path(),
            &format!("rl_{name}"),
            &format!("{bom}prompt,m{nl}p,1{nl}\"two{nl}lines\",0{nl}p,1{nl}p,2{nl}"),
        );
        let err = import_routellm(&rl).unwrap_err();
        assert_at(&err, &rl, Location::Line(6), "column `m`");
        let ragged = write(
            dir.path(),
            &format!("ragged_{name}"),
            &format!("{bom}sample_id,prompt,eval_name,m{nl}a,p,t,1{nl}b,p,t{nl}"),
        );
        let err = import_routerbench(&ragged).unwrap_err();
        assert_at(&err, &ragged, Location::Line(3), "fields");
    }
}

#[test]
fn a_column_that_is_not_a_score_says_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    // An extra column (notes, an id) is read as a model: say so, and how to drop it.
    let f = write(
        dir.path(),
        "x.csv",
        "sample_id,prompt,eval_name,m,notes\na,p,t,1,\"x, y\"\n",
    );
    let err = import_routerbench(&f).unwrap_err();
    assert_at(&err, &f, Location::Line(2), "column `notes`");
    assert!(
        err.to_string().contains("if `notes` is not a model"),
        "{err}"
    );
    // A long table (one row per prompt × model) without its prompts is named as such.
    let long = write(
        dir.path(),
        "long.csv",
        "prompt_id,model,score\n1,gpt-4o,1\n1,gpt-4o-mini,0\n",
    );
    let err = import_auto(&long).unwrap_err();
    assert_at(
        &err,
        &long,
        Location::Line(1),
        "one row per prompt and model",
    );
    assert!(err.to_string().contains("`prompt` columns"), "{err}");
}

/// A long CSV's mistakes name the line and the fix: a model twice on one prompt (both lines),
/// an id with two texts, an unknown column, a split that is neither train nor test.
#[test]
fn long_csv_errors_name_line_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "id,prompt,model,score\n1,q,a,1\n1,q,b,0\n1,q,a,0\n",
            4,
            "`a` on prompt `1` again (first on ",
        ),
        (
            "id,prompt,model,score\n1,q,a,1\n1,other,b,0\n",
            3,
            "another text",
        ),
        (
            "id,prompt,model,score,split\n1,q,a,1,dev\n",
            2,
            "`dev` is not `train` or `test`",
        ),
        (
            "id,prompt,model,score\n1,q,a,maybe\n",
            2,
            "score: `maybe` is not a score",
        ),
    ];
    for (i, (content, line, needle)) in cases.into_iter().enumerate() {
        let f = write(dir.path(), &format!("long{i}.csv"), content);
        let err = import_auto(&f).unwrap_err();
        assert_at(&err, &f, Location::Line(line), needle);
    }
    let f = write(
        dir.path(),
        "unknown.csv",
        "id,prompt,model,score,difficulty\n1,q,a,1,0.3\n",
    );
    let err = import_auto(&f).unwrap_err();
    assert_at(&err, &f, Location::Line(1), "column `difficulty`");
    // Two names of one field: which is meant would be a guess.
    let f = write(
        dir.path(),
        "twice.csv",
        "model,text,prompt,score\na,answer,q,1\n",
    );
    let err = import_auto(&f).unwrap_err();
    assert_at(
        &err,
        &f,
        Location::Line(1),
        "columns `text` and `prompt` name one field",
    );
}

#[test]
fn canonical_cell_of_the_wrong_type_names_model_and_field() {
    let dir = tempfile::tempdir().unwrap();
    for (cell, field) in [
        (r#"{"score":"1"}"#, "cells.`m`.score"),
        (r#"{"score":null}"#, "cells.`m`.score"),
        (
            r#"{"score":1,"output_tokens":3.5}"#,
            "cells.`m`.output_tokens",
        ),
        (r#"{"score":1,"cost_usd":"0.1"}"#, "cells.`m`.cost_usd"),
        (r#"{"cost_usd":0.1}"#, "cells.`m`"),
    ] {
        let f = write(
            dir.path(),
            "x.jsonl",
            &format!(
                "{{\"id\":\"1\",\"text\":\"a\",\"cells\":{{\"m\":{{\"score\":1}}}}}}\n\
                 {{\"id\":\"2\",\"text\":\"b\",\"cells\":{{\"m\":{cell}}}}}\n"
            ),
        );
        let err = read_jsonl(&f).unwrap_err();
        assert_at(&err, &f, Location::Line(2), field);
    }
}

/// A column of scores in [0, 1] beside models that carry their cost columns is most likely not
/// a model (it would import silently as one): refused, naming it and the fix. Files whose
/// models carry no companion columns at all still read every column as a model.
#[test]
fn routerbench_a_column_without_the_models_companions_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "extra_test.csv",
        "sample_id,prompt,eval_name,m,m|total_cost,difficulty\na.1,\"['x']\",t,1.0,0.1,0.3\n",
    );
    let err = import_routerbench(&f).unwrap_err();
    assert_at(&err, &f, Location::Line(1), "column `difficulty` has no");
    assert!(err.to_string().contains("drop it"), "{err}");
    let bare = write(
        dir.path(),
        "bare_test.csv",
        "sample_id,prompt,eval_name,m,n\na.1,\"['x']\",t,1.0,0.0\n",
    );
    let table = import_routerbench(&bare).unwrap();
    assert_eq!(table.models.len(), 2);
}

/// RouteLLM writes its model columns as True/False. Beside them, a column of 0s and 1s (an
/// `is_hard` flag) is not a model: refused at the line of its first number, naming it and the
/// fix, rather than imported as one more model. Files of numbers only are read as before.
#[test]
fn routellm_a_numeric_column_beside_true_false_models_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "mmlu_x.csv",
        "prompt,a,b,is_hard\nq1,True,False,\nq2,False,True,1\nq3,True,True,0\n",
    );
    let err = import_routellm(&f).unwrap_err();
    assert_at(
        &err,
        &f,
        Location::Line(3),
        "column `is_hard` holds the number `1`",
    );
    let msg = err.to_string();
    assert!(msg.contains("(`a`, `b`) hold True/False"), "{msg}");
    assert!(msg.contains("drop the column"), "{msg}");
    assert!(msg.contains("write its scores as True/False"), "{msg}");
    assert!(
        msg.contains("canonical JSONL or the long CSV layout"),
        "{msg}"
    );
    // import_auto reads the file the same way.
    let err = import_auto(&f).unwrap_err();
    assert_at(&err, &f, Location::Line(3), "column `is_hard`");
    // A file whose model columns all hold numbers (a user's own 0/1 or fractional scores) is
    // read as before, every column a model; so is RouteLLM's True/False with empty cells.
    let f = write(
        dir.path(),
        "mine.csv",
        "prompt,a,b,is_hard\nq1,1,0.5,\nq2,0,1.0,1\nq3,,0.37,0\n",
    );
    let t = import_routellm(&f).unwrap();
    assert_eq!(t.models, ["a", "b", "is_hard"]);
    assert_eq!(t.len(), 3);
    assert_eq!(t.rows[2].cells[0], None);
    assert_eq!(t.rows[2].cells[1].as_ref().map(|c| c.score), Some(0.37));
    let f = write(
        dir.path(),
        "gsm8k_responses.csv",
        "prompt,a,b,a_response\nq1,True,,x\nq2,False,TRUE,\n",
    );
    let t = import_routellm(&f).unwrap();
    assert_eq!((t.len(), t.models.len()), (2, 2));
}

/// A fractional column beside True/False models (a difficulty under another name) is refused
/// too; with CRLF endings the line is still the one of its first number.
#[test]
fn routellm_a_fractional_column_beside_true_false_models_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "mmlu_x.csv",
        "prompt,a,b,hardness\r\nq1,True,False,\r\nq2,TRUE,false,NA\r\nq3,False,True,0.75\r\nq4,True,True,0.2\r\n",
    );
    let err = import_routellm(&f).unwrap_err();
    assert_at(
        &err,
        &f,
        Location::Line(4),
        "column `hardness` holds the number `0.75`",
    );
    // Two such columns: the one whose first number comes first is named, the other listed.
    let f = write(
        dir.path(),
        "mmlu_y.csv",
        "prompt,a,late,early\nq1,True,,0.5\nq2,False,1,0.25\n",
    );
    let err = import_routellm(&f).unwrap_err();
    assert_at(
        &err,
        &f,
        Location::Line(2),
        "column `early` holds the number `0.5` (so do `late`)",
    );
}

/// A column named like metadata (an id, a task, a split) is refused by name at the header,
/// whatever it holds: a `category` of text (which before failed on its first cell with the
/// generic hint), an `eval_idx` of 0s and 1s (which before imported as a model), in any case.
/// A text column with another name still gets the generic hint.
#[test]
fn routellm_a_metadata_named_column_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [
        (
            "category",
            "prompt,a,category\nq1,True,math\nq2,False,law\n",
        ),
        (
            "difficulty",
            "prompt,a,b,difficulty\nq1,True,False,0.2\nq2,False,True,0.75\n",
        ),
        ("eval_idx", "prompt,a,b,eval_idx\nq1,1,0,0\nq2,0,1,1\n"),
        ("eval_idx", "prompt,a,eval_idx\nq1,True,0\nq2,False,1\n"),
        ("Difficulty", "prompt,a,Difficulty\nq1,1,0.2\nq2,0,0.75\n"),
        ("ID", "prompt,a,ID\nq1,True,0\nq2,False,1\n"),
    ] {
        let f = write(dir.path(), "mmlu_x.csv", content);
        let err = import_routellm(&f).unwrap_err();
        assert_at(
            &err,
            &f,
            Location::Line(1),
            &format!("column `{name}` is named like metadata"),
        );
        let msg = err.to_string();
        assert!(msg.contains("drop the column"), "{msg}");
        assert!(msg.contains("rename it if it really is a model"), "{msg}");
        assert!(
            msg.contains("canonical JSONL or the long CSV layout"),
            "{msg}"
        );
    }
    let f = write(dir.path(), "mmlu_x.csv", "prompt,a,notes\nq1,True,fine\n");
    let err = import_routellm(&f).unwrap_err();
    assert_at(&err, &f, Location::Line(2), "column `notes`");
    assert!(
        err.to_string().contains("if `notes` is not a model"),
        "{err}"
    );
}
