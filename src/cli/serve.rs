//! `nlab serve`: the Neutron-compatible virtual-network API.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

/// Arguments of `nlab serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default; port 0 picks a free one,
    /// printed on the first line).
    #[arg(long, default_value = "127.0.0.1:9696")]
    pub listen: SocketAddr,
    /// The database (SQLite; made 0600, its directory 0700).
    #[arg(long, default_value = "/var/lib/nlab/vnet.db")]
    pub db: PathBuf,
    /// The lab that holds every virtual network of this database.
    #[arg(long, default_value = "vnet")]
    pub lab: String,
    /// Users and projects (YAML, root only); made with a random admin
    /// password and admin_token when missing.
    #[arg(long, default_value = "/etc/nlab/vnet-users.yaml")]
    pub users: PathBuf,
    /// How long a Keystone token stays valid, in seconds (default 28800,
    /// eight hours). Tokens are kept in the database: a restart of the
    /// service keeps them valid.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 28_800,
        hide_default_value = true
    )]
    pub token_life: u64,
}

/// Runs the server until SIGINT or SIGTERM.
pub fn serve(a: ServeArgs) -> anyhow::Result<i32> {
    crate::store::check_lab_name(&a.lab)?;
    crate::api::serve(crate::api::ServeOptions {
        listen: a.listen,
        db: a.db,
        lab: a.lab,
        users: a.users,
        token_life: std::time::Duration::from_secs(a.token_life),
    })?;
    Ok(0)
}
