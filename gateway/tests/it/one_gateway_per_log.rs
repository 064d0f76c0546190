//! One gateway per SQLite outcome log: a second gateway on the same file is refused at
//! start-up with the file, the holder's pid and the fixes in the error, while the key store
//! (what `switchyard keys` and the readers open) stays usable; once the first has shut down,
//! a new one starts. Before, the second started without a word and both kept their own key
//! budgets and pruned the same file.

use gateway::auth::{KeyStore, NewKey};
use testkit::FakeProvider;

use crate::e2e_harness::mini_config;

async fn start(
    dir: &std::path::Path,
    fake: &FakeProvider,
) -> Result<gateway::RunningGateway, gateway::Error> {
    let cfg = mini_config(dir, fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    gateway::spawn(cfg, listener, None).await
}

#[tokio::test]
async fn a_second_gateway_on_one_sqlite_file_is_refused_until_the_first_stops() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeProvider::start().await;
    let first = start(dir.path(), &fake).await.unwrap();

    let err = match start(dir.path(), &fake).await {
        Ok(_) => panic!("a second gateway started on the same SQLite file"),
        Err(e) => e.to_string(),
    };
    let db = dir.path().join("outcomes.sqlite");
    assert!(
        err.contains(&db.display().to_string()),
        "names the file: {err}"
    );
    assert!(err.contains("another `switchyard serve`"), "{err}");
    assert!(
        err.contains(&format!("(pid {})", std::process::id())),
        "names the holder: {err}"
    );
    assert!(err.contains("one gateway per SQLite file"), "{err}");
    assert!(err.contains("[log] postgres"), "{err}");
    assert!(err.contains("docs/gateway.md"), "{err}");

    // The key store is no gateway: `keys create` and `keys list` work while one serves.
    let mut store = KeyStore::open(&db).unwrap();
    store
        .create(
            &NewKey {
                name: "while-serving".to_owned(),
                ..NewKey::default()
            },
            1,
        )
        .unwrap();
    assert_eq!(store.list().unwrap().len(), 1);
    // And neither are the log's readers.
    gateway::read_outcomes(first.outcome_log().location()).unwrap();

    first.shutdown().await.unwrap();
    let again = start(dir.path(), &fake).await.unwrap();
    again.shutdown().await.unwrap();
}

#[tokio::test]
async fn gateways_on_different_files_start_side_by_side() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let fake = FakeProvider::start().await;
    let first = start(a.path(), &fake).await.unwrap();
    let second = start(b.path(), &fake).await.unwrap();
    first.shutdown().await.unwrap();
    second.shutdown().await.unwrap();
}
