//! Acknowledgements: out of order in, a contiguous position out.

use std::collections::BTreeSet;

/// The first sequence number not yet acknowledged, and those acknowledged beyond it.
#[derive(Debug)]
pub(crate) struct Acks {
    position: u64,
    beyond: BTreeSet<u64>,
}

impl Acks {
    pub(crate) fn new(position: u64) -> Self {
        Acks {
            position,
            beyond: BTreeSet::new(),
        }
    }

    pub(crate) fn position(&self) -> u64 {
        self.position
    }

    /// Acknowledges `seq`; returns whether the position moved.
    pub(crate) fn ack(&mut self, seq: u64) -> bool {
        if seq < self.position {
            return false;
        }
        self.beyond.insert(seq);
        let before = self.position;
        while self.beyond.remove(&self.position) {
            self.position += 1;
        }
        self.position != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_position_moves_only_over_a_contiguous_run() {
        let mut acks = Acks::new(10);
        assert!(!acks.ack(12));
        assert!(!acks.ack(11));
        assert_eq!(acks.position(), 10);
        assert!(acks.ack(10));
        assert_eq!(acks.position(), 13);
        assert!(!acks.ack(5), "below the position: nothing to do");
    }
}
