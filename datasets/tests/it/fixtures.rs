use datasets::{
    import_auto, import_llmrouter, import_llmrouter_with, import_routellm, import_routerarena,
    import_routerbench, import_routerdc, read_jsonl, write_jsonl, Cell, LlmRouterOptions,
    OutcomeTable, PromptRow, Split,
};

use crate::fixture;

fn cell<'a>(t: &'a OutcomeTable, row: &str, model: &str) -> Option<&'a Cell> {
    let j = t.model_index(model)?;
    t.rows.iter().find(|r| r.id == row)?.cells[j].as_ref()
}

#[test]
fn routerbench_layout_imports_models_splits_prompts_and_costs() {
    let t = import_routerbench(&fixture("routerbench")).unwrap();
    assert_eq!(t.source, "routerbench");
    assert_eq!(t.models, ["model-a", "vendor/model-b", "model-c"]);
    assert_eq!(t.len(), 5);
    // Test file sorts first.
    assert_eq!(t.rows[0].id, "code.dev.1");
    assert_eq!(t.rows[0].split, Some(Split::Test));
    let first_train = t.rows.iter().find(|r| r.id == "quiz.dev.1").unwrap();
    assert_eq!(first_train.split, Some(Split::Train));
    assert_eq!(
        first_train.text,
        "Pick the colour of the sky.\nA) blue\nB) green\nAnswer:\nA\n\nPick the colour of grass.\nA) blue\nB) green\nAnswer:"
    );
    let quoted = t.rows.iter().find(|r| r.id == "quiz.dev.2").unwrap();
    assert_eq!(quoted.text, "It's \"quoted\" and has a tab\there.");
    // Empty score cell: the model did not run.
    assert!(quoted.cells[2].is_none());
    // Duplicate sample ids stay distinct.
    assert!(t.rows.iter().any(|r| r.id == "quiz.dev.2#2"));
    let verbatim = t.rows.iter().find(|r| r.id == "code.dev.2").unwrap();
    assert_eq!(verbatim.text, "not a python list, kept verbatim");
    let c = cell(&t, "quiz.dev.1", "vendor/model-b").unwrap();
    assert_eq!(
        (c.score, c.cost_usd, c.cost_estimated),
        (0.0, Some(0.002), false)
    );
    assert_eq!(c.response.as_deref(), Some("A"));
    assert_eq!(t.tasks(), ["code", "quiz"]);
}

#[test]
fn routellm_drops_contaminated_prompts_and_reads_true_false() {
    let t = import_routellm(&fixture("routellm")).unwrap();
    assert_eq!(
        t.models,
        ["mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"]
    );
    // 6 anatomy - 1 contaminated + 3 virology + 5 gsm8k - 3 contaminated.
    assert_eq!(t.len(), 5 + 3 + 2);
    assert!(!t.rows.iter().any(|r| r.id == "mmlu/anatomy/2"));
    assert!(!t.rows.iter().any(|r| r.id == "gsm8k/0"));
    assert!(t.rows.iter().any(|r| r.id == "gsm8k/3"));
    assert_eq!(t.tasks(), ["mmlu/anatomy", "mmlu/virology", "gsm8k"]);
    assert_eq!(t.rows[0].task_family(), Some("mmlu"));
    for row in &t.rows {
        for c in row.cells.iter().flatten() {
            assert!(c.score == 0.0 || c.score == 1.0);
            assert!(c.cost_usd.is_none());
        }
    }
    let g = t.rows.iter().find(|r| r.id == "gsm8k/3").unwrap();
    assert!(g.cells[1].as_ref().unwrap().response.is_some());

    let mut mmlu = t.clone();
    mmlu.filter_tasks(&["mmlu"]);
    assert_eq!(mmlu.len(), 8);
    // A single file finds the contamination list one folder up.
    let one = import_routellm(&fixture("routellm/mmlu/responses/mmlu_anatomy.csv")).unwrap();
    assert_eq!(one.len(), 5);
}

#[test]
fn llmrouter_joins_tasks_fills_costs_and_can_exclude_gpqa() {
    let t = import_llmrouter(&fixture("llmrouter")).unwrap();
    assert_eq!(t.models.len(), 9);
    assert_eq!(t.len(), 7 + 4);
    assert!(t.rows.iter().all(|r| r.task.is_some()));
    assert_eq!(
        t.rows
            .iter()
            .filter(|r| r.split == Some(Split::Test))
            .count(),
        4
    );
    assert!(t.tasks().contains(&"gpqa".to_owned()));
    let c = t.rows[0].cells.iter().flatten().next().unwrap();
    assert!(c.cost_estimated && c.cost_usd.unwrap() > 0.0);

    let no_gpqa = import_llmrouter_with(
        &fixture("llmrouter"),
        &LlmRouterOptions { exclude_gpqa: true },
    )
    .unwrap();
    assert_eq!(no_gpqa.len(), 10);
    let mut dropped = t.clone();
    dropped.drop_task("gpqa");
    assert_eq!(dropped, no_gpqa);
}

#[test]
fn routerdc_layout_takes_task_and_split_from_file_names() {
    let t = import_routerdc(&fixture("routerdc")).unwrap();
    assert_eq!(t.len(), 4);
    assert_eq!(t.models, ["m1", "m2", "m3"]);
    let other = t.rows.iter().find(|r| r.id == "other/0").unwrap();
    assert_eq!((other.task.as_deref(), other.split), (Some("other"), None));
    assert!(other.cells[2].is_none());
    let tr = t.rows.iter().find(|r| r.id == "toy_train/1").unwrap();
    assert_eq!(
        (tr.task.as_deref(), tr.split),
        (Some("toy"), Some(Split::Train))
    );
    assert_eq!(tr.cells[0].as_ref().unwrap().score, 0.25);
    let te = t.rows.iter().find(|r| r.id == "toy-test/0").unwrap();
    assert_eq!(te.split, Some(Split::Test));
}

#[test]
fn routerarena_joins_models_and_records_costs() {
    let t = import_routerarena(&fixture("routerarena")).unwrap();
    assert_eq!(
        t.models,
        ["claude-3-haiku-20240307", "gemini-2.0-flash-001"]
    );
    assert_eq!(t.len(), 5);
    let aime = t.rows.iter().find(|r| r.id == "AIME_112").unwrap();
    assert_eq!(aime.task.as_deref(), Some("AIME"));
    let c = aime.cells[0].as_ref().unwrap();
    assert_eq!((c.input_tokens, c.output_tokens), (Some(349), Some(120)));
    // Recorded inference_cost equals tokens x cost.json prices.
    let expect = (349.0 * 0.25 + 120.0 * 1.25) / 1e6;
    assert!((c.cost_usd.unwrap() - expect).abs() < 1e-12);
    assert!(!c.cost_estimated);
    assert!(t.rows.iter().all(|r| r.cells.iter().all(Option::is_some)));
}

#[test]
fn import_auto_detects_every_layout() {
    let cases = [
        ("routerbench", "routerbench"),
        ("routerbench/toy_test.csv", "routerbench"),
        ("routellm", "routellm"),
        ("routellm/mmlu", "routellm"),
        ("routellm/gsm8k/gsm8k_responses.csv", "routellm"),
        ("llmrouter", "llmrouter"),
        (
            "llmrouter/data/dcrouter_preprocessed/test.json",
            "llmrouter",
        ),
        ("routerdc", "routerdc"),
        ("routerdc/other.json", "routerdc"),
        ("routerarena", "routerarena"),
        ("routerarena/cached_results", "routerarena"),
    ];
    for (rel, source) in cases {
        let t = import_auto(&fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(t.source, source, "{rel}");
        assert!(!t.is_empty(), "{rel}");
    }
}

#[test]
fn canonical_jsonl_round_trips_exactly() {
    let mut t = import_routerbench(&fixture("routerbench")).unwrap();
    t.merge(import_routerarena(&fixture("routerarena")).unwrap());
    t.rows[0].cells[0].as_mut().unwrap().latency_ms = Some(1234.5678);
    t.rows[1].cells[1].as_mut().unwrap().cost_usd = Some(0.1 + 0.2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    write_jsonl(&t, &path).unwrap();
    let back = read_jsonl(&path).unwrap();
    assert_eq!(back, t);
    let auto = import_auto(&path).unwrap();
    assert_eq!(auto, t);
}

#[test]
fn canonical_jsonl_with_a_byte_order_mark_reads_like_without() {
    let t = import_routerbench(&fixture("routerbench")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    write_jsonl(&t, &path).unwrap();
    let mut bytes = "\u{feff}".as_bytes().to_vec();
    bytes.extend(std::fs::read(&path).unwrap());
    let bom = dir.path().join("bom.jsonl");
    std::fs::write(&bom, bytes).unwrap();
    assert_eq!(read_jsonl(&bom).unwrap(), t);
    assert_eq!(import_auto(&bom).unwrap(), t);
}

#[test]
fn merge_unions_models_and_realigns_cells() {
    let mut a = import_routerdc(&fixture("routerdc/other.json")).unwrap();
    let b = import_routerdc(&fixture("routerdc/toy-test.json")).unwrap();
    a.merge(b);
    assert_eq!(a.models, ["m1", "m2", "m3"]);
    assert_eq!(a.len(), 2);
    assert!(a.rows[0].cells[2].is_none());
    assert_eq!(a.rows[1].cells[2].as_ref().unwrap().score, 1.0);
    let means = a.model_means();
    assert_eq!(means[0].prompts, 2);
    assert_eq!(means[0].mean_score, 0.5);
    assert_eq!(means[2].prompts, 1);
    assert_eq!(a.oracle_mean(), 1.0);

    a.retain_models(|m| m != "m2");
    assert_eq!(a.models, ["m1", "m3"]);
    assert!(a.rows.iter().all(|r: &PromptRow| r.cells.len() == 2));
    a.retain_complete_rows();
    assert_eq!(a.len(), 1);
}

/// The full RouterBench release names MMLU's subjects `mmlu-<subject>`: they are one task
/// family, `mmlu`, as RouteLLM's MMLU files are; task names match in any case.
#[test]
fn routerbench_mmlu_subjects_roll_up_to_one_family_and_tasks_match_in_any_case() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("full_test.csv");
    std::fs::write(
        &f,
        ",sample_id,prompt,eval_name,m,m|total_cost\n\
         0,a.1,\"['x']\",mmlu-anatomy,1.0,0.1\n\
         1,a.2,\"['y']\",mmlu-high-school-physics,0.0,0.1\n\
         2,a.3,\"['z']\",Hellaswag,1.0,0.1\n",
    )
    .unwrap();
    let mut t = import_routerbench(&f).unwrap();
    assert_eq!(
        t.tasks(),
        ["mmlu/anatomy", "mmlu/high-school-physics", "Hellaswag"]
    );
    assert_eq!(t.rows[1].task_family(), Some("mmlu"));
    assert!(t.rows[2].in_task("hellaswag") && t.rows[0].in_task("MMLU"));
    t.drop_task("mmlu");
    assert_eq!(t.len(), 1);
}

#[test]
fn spreadsheet_spellings_of_scores_costs_and_index_columns_are_read() {
    // Excel writes TRUE/FALSE, R writes NA, pandas writes `nan` for a missing cost and an
    // `Unnamed: 0` column for an index it read back: none of them is a model or an error.
    let dir = tempfile::tempdir().unwrap();
    let rb = dir.path().join("x.csv");
    std::fs::write(
        &rb,
        "Unnamed: 0,sample_id,prompt,eval_name,m,n,m|total_cost,n|total_cost\n\
         0,a,p,t,TRUE,NA,nan,0.1\n1,b,q,t,FALSE,N/A,0.2,NaN\n2,c,r,t,null,1,,0.3\n",
    )
    .unwrap();
    let t = datasets::import_routerbench(&rb).unwrap();
    assert_eq!(t.models, ["m", "n"]);
    assert_eq!(
        cell(&t, "a", "m").map(|c| (c.score, c.cost_usd)),
        Some((1.0, None))
    );
    assert_eq!(
        cell(&t, "b", "m").map(|c| (c.score, c.cost_usd)),
        Some((0.0, Some(0.2)))
    );
    assert!(cell(&t, "a", "n").is_none() && cell(&t, "c", "m").is_none());
    assert_eq!(cell(&t, "b", "n"), None);
    let rl = dir.path().join("mmlu_x.csv");
    std::fs::write(&rl, "Unnamed: 0,prompt,m\n0,q1,True\n1,q2,FALSE\n").unwrap();
    let t = datasets::import_routellm(&rl).unwrap();
    assert_eq!(t.models, ["m"]);
    assert_eq!(t.rows[1].cells[0].as_ref().map(|c| c.score), Some(0.0));
}

#[test]
fn canonical_blank_task_is_no_task() {
    // A blank task label would become a task family of its own (a fold named `` under loto).
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.jsonl");
    std::fs::write(
        &f,
        "{\"id\":\"1\",\"text\":\"a\",\"task\":\"\",\"cells\":{\"m\":{\"score\":1}}}\n\
         {\"id\":\"2\",\"text\":\"b\",\"task\":\"  \",\"cells\":{\"m\":{\"score\":1}}}\n\
         {\"id\":\"3\",\"text\":\"c\",\"task\":\"t\",\"cells\":{\"m\":{\"score\":1}}}\n",
    )
    .unwrap();
    let t = datasets::read_jsonl(&f).unwrap();
    let tasks: Vec<Option<&str>> = t.rows.iter().map(|r| r.task.as_deref()).collect();
    assert_eq!(tasks, [None, None, Some("t")]);
}

/// A long CSV (one row per prompt and model, as dataframes export), with what real files
/// carry: a BOM, CRLF line endings, a pandas index column, Excel's TRUE/FALSE, `NA` for a run
/// that did not happen, quoted commas and line breaks. Rows of one prompt gather into one
/// row of the table; without an `id` column the prompt's text is its key.
#[test]
fn long_csv_gathers_one_row_per_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let with_ids = dir.path().join("results.csv");
    std::fs::write(
        &with_ids,
        "\u{feff},ID,Prompt,Task,Split,Model,Score,Cost_USD,Response\r\n\
         0,q1,\"Add 2, 3\",math,train,gpt-4o,TRUE,0.002,5\r\n\
         1,q1,\"Add 2, 3\",math,train,gpt-4o-mini,FALSE,0.0001,6\r\n\
         2,q2,\"Write a\nhaiku\",writing,test,gpt-4o,0.5,,\r\n\
         3,q2,\"Write a\nhaiku\",writing,test,gpt-4o-mini,NA,,\r\n",
    )
    .unwrap();
    let t = import_auto(&with_ids).unwrap();
    assert_eq!(t.models, ["gpt-4o", "gpt-4o-mini"]);
    assert_eq!(t.len(), 2);
    let q1 = t.rows.iter().find(|r| r.id == "q1").unwrap();
    assert_eq!(
        (q1.text.as_str(), q1.task.as_deref(), q1.split),
        ("Add 2, 3", Some("math"), Some(Split::Train))
    );
    let big = cell(&t, "q1", "gpt-4o").unwrap();
    assert_eq!(
        (big.score, big.cost_usd, big.response.as_deref()),
        (1.0, Some(0.002), Some("5"))
    );
    assert_eq!(cell(&t, "q1", "gpt-4o-mini").unwrap().score, 0.0);
    let q2 = t.rows.iter().find(|r| r.id == "q2").unwrap();
    assert_eq!(q2.text, "Write a\nhaiku");
    assert_eq!(cell(&t, "q2", "gpt-4o").unwrap().score, 0.5);
    assert!(cell(&t, "q2", "gpt-4o-mini").is_none(), "NA: not run");

    let no_ids = dir.path().join("plain.csv");
    std::fs::write(&no_ids, "prompt,model,correct\nhi,a,1\nhi,b,0\nbye,a,0\n").unwrap();
    let t = import_auto(&no_ids).unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(t.rows[0].text, "hi");
    assert!(t.rows[1].cells[1].is_none(), "b never saw `bye`");

    // pandas' float token counts read; a run that did not happen (`NA`) still names its
    // model; train and test files that both count from 0 keep their prompts apart.
    let pandas = dir.path().join("pandas.csv");
    std::fs::write(
        &pandas,
        "id,prompt,model,score,output_tokens\n0,q,a,1,12.0\n0,q,late,NA,\n",
    )
    .unwrap();
    let t = import_auto(&pandas).unwrap();
    assert_eq!(t.models, ["a", "late"]);
    assert_eq!(cell(&t, "0", "a").unwrap().output_tokens, Some(12));
    assert!(cell(&t, "0", "late").is_none());

    // A folder of them, the split named by the file names.
    let folder = dir.path().join("split");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(
        folder.join("bench_train.csv"),
        "id,prompt,model,score\n0,x,a,1\n",
    )
    .unwrap();
    std::fs::write(
        folder.join("bench_test.csv"),
        "id,prompt,model,score\n0,y,a,0\n",
    )
    .unwrap();
    let t = import_auto(&folder).unwrap();
    let split_of = |text: &str| t.rows.iter().find(|r| r.text == text).unwrap().split;
    assert_eq!(
        (split_of("x"), split_of("y")),
        (Some(Split::Train), Some(Split::Test))
    );
}
