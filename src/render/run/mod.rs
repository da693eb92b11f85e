//! A live run as people and scripts read it: the three-lane timeline, the ladders, the report
//! around them (title, facts, checks, capture counters) and its JSON Lines stream. Pure
//! functions of a [`RunData`](crate::live::RunData): saved runs render the same without root.

pub mod endpoint_lanes;
pub mod facts;
pub mod ladder;
pub mod ladder_rows;
mod lanes;
pub mod report;
mod safe;
pub mod timeline;

pub use report::ReportOptions;
