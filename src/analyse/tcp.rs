//! INTERIM placeholder, replaced by the real analyser.
use super::{TcpSegment, TcpVerdict};
pub struct TcpAnalyser {
    n: u64,
}
impl Default for TcpAnalyser {
    fn default() -> Self {
        Self::new()
    }
}
impl TcpAnalyser {
    pub fn new() -> Self {
        TcpAnalyser { n: 0 }
    }
    pub fn observe(&mut self, seg: &TcpSegment) -> TcpVerdict {
        let _ = seg;
        TcpVerdict::default()
    }
    pub fn stream_for_fragment(&mut self, _seg: &TcpSegment) -> u64 {
        0
    }
    pub fn stream_count(&self) -> u64 {
        self.n
    }
    pub fn live_streams(&self) -> usize {
        0
    }
}
