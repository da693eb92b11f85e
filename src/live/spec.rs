//! What the live layer needs to know of a scenario: its program, its checks and its facts.
//! The layer runs any value of this type and knows no particular one (`crate::render::run`
//! renders the result); the
//! catalogue (`crate::scenario`) defines them, and the `run` command (`crate::run`) picks one.

use super::{Check, LiveError, Tracer, View};

/// One scenario of the design card.
pub struct Scenario {
    pub name: &'static str,
    /// Which lesson it belongs to.
    pub lesson: &'static str,
    /// One line for `sockscope list` and the title.
    pub summary: &'static str,
    /// What to look at (`--explain`).
    pub explain: &'static str,
    /// The program.
    pub run: fn(&Tracer) -> Result<(), LiveError>,
    /// The self-checks, on the run's packets and events.
    pub checks: fn(&View) -> Vec<Check>,
    /// Numbers shown after the ladder (may be empty).
    pub facts: fn(&View) -> Vec<String>,
}
