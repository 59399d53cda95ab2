pub mod fetch;
mod robots;
