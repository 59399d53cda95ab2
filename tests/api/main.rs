//! The integration suite: the real server on a random loopback port with a fresh SQLite file,
//! driven over HTTP.

mod aborts;
mod browser;
mod cli;
mod console;
mod console_browser;
mod crash;
mod events_stream;
mod fake_robots;
mod feeds;
mod helpers;
mod history;
mod hostile;
mod ingest;
mod instances;
mod interop;
mod pages;
mod readers;
mod receiver;
mod robots;
mod seed;
mod site;
mod soak;
mod sources;
mod tags;
mod validity;
mod w3c_rules;
mod webhooks;
mod websub;
