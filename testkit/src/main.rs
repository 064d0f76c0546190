//! `testkit`: runs the fake provider until Ctrl-C and prints its base URL on stdout.
//!
//! `cargo run -p testkit -- --port 0` prints `http://127.0.0.1:PORT`; OpenAI clients use that
//! URL plus `/v1`. Every model answers with the default echo scenario.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::Context;
use clap::Parser;
use testkit::FakeProvider;

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "testkit",
    about = "Fake OpenAI, Anthropic and Gemini server for tests"
)]
struct Args {
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let fake = FakeProvider::bind(SocketAddr::new(args.host, args.port))
        .await
        .context("start the fake provider")?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", fake.base_url()).context("print the base URL")?;
    stdout.flush().context("flush stdout")?;
    tokio::signal::ctrl_c().await.context("wait for Ctrl-C")?;
    fake.shutdown().await;
    Ok(())
}
