//! `kubetrail token`: makes a new random API token and prints the configuration entry that
//! admits it (only the token's SHA-256 goes into the configuration).

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Role {
    Viewer,
    Analyst,
    Admin,
    /// For the ingest routes only (the API server's audit webhook, Falco).
    Ingest,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Who will hold the token (shown in the query log and on acknowledgements).
    #[arg(long)]
    pub name: String,
    #[arg(long, value_enum, default_value_t = Role::Viewer)]
    pub role: Role,
    /// Restrict the token to these namespaces (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Restrict the token to these clusters (comma-separated); for an ingest token, the one
    /// cluster its events come from.
    #[arg(long, value_delimiter = ',')]
    pub clusters: Vec<String>,
}

fn toml_list(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let token = api::generate_token()?;
    let hash = api::hash_token(&token);
    println!(
        "token (give it to {}; it is not stored anywhere): {token}\n",
        args.name
    );
    println!("add to the configuration:\n");
    match args.role {
        Role::Ingest => {
            let [cluster] = args.clusters.as_slice() else {
                return Err(crate::cmd::bad_input(
                    "an ingest token needs exactly one --clusters value: the cluster its events come from",
                ));
            };
            println!(
                "[[api.ingest_tokens]]\nname = {:?}\nsha256 = \"{hash}\"\ncluster = {cluster:?}",
                args.name
            );
        }
        role => {
            let role = match role {
                Role::Viewer => "viewer",
                Role::Analyst => "analyst",
                _ => "admin",
            };
            println!(
                "[[api.tokens]]\nname = {:?}\nsha256 = \"{hash}\"\nrole = \"{role}\"",
                args.name
            );
            if !args.namespaces.is_empty() {
                println!("namespaces = {}", toml_list(&args.namespaces));
            }
            if !args.clusters.is_empty() {
                println!("clusters = {}", toml_list(&args.clusters));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
