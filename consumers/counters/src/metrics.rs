//! What one invocation of the counters' Lambda did, as its CloudWatch embedded-metric-format
//! line (`tally-metrics`): over the batch's messages, the events counted (`Views`), duplicates
//! (`Skipped.duplicate`) and messages not applied (`Failed.{reason}`, [`CountersError::reason`]).

use tally_metrics::Invocation;

use crate::{Applied, CountersError};

/// The function's name in its metrics (the `Function` dimension).
pub const FUNCTION: &str = "counters";

/// The metrics of a batch's results.
pub fn metrics<'a>(
    results: impl IntoIterator<Item = &'a Result<Applied, CountersError>>,
) -> Invocation {
    let mut metrics = Invocation::new(FUNCTION);
    for result in results {
        match result {
            Ok(Applied::Counted { .. }) => metrics.views(1),
            Ok(Applied::Duplicate) => metrics.skipped("duplicate", 1),
            Err(e) => metrics.failed(e.reason(), 1),
        };
    }
    metrics
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(result: &Result<Applied, CountersError>) -> tally_metrics::Emitted {
        let line = metrics([result]).line(1_764_643_200_000, 3.0);
        let emitted = tally_metrics::read(&line).expect("emf");
        assert_eq!(emitted.dimensions["Function"], "counters");
        emitted
    }

    #[test]
    fn each_result_is_counted_under_its_metric() {
        let counted = read(&Ok(Applied::Counted { new_visitor: true }));
        assert_eq!((counted.get("Views"), counted.get("Skipped")), (1.0, 0.0));
        let duplicate = read(&Ok(Applied::Duplicate));
        assert_eq!(
            (duplicate.get("Views"), duplicate.get("Skipped.duplicate")),
            (0.0, 1.0)
        );
        let invalid = read(&Err(CountersError::Invalid("model 2".into())));
        assert_eq!(
            (invalid.get("Failed"), invalid.get("Failed.invalid")),
            (1.0, 1.0)
        );
        let dynamo = read(&Err(CountersError::Dynamo("conflict".into())));
        assert_eq!(dynamo.get("Failed.dynamodb"), 1.0);
        assert!(!dynamo.metrics.keys().any(|k| k.contains("conflict")));
    }

    #[test]
    fn a_batch_is_one_line_of_its_sums() {
        let results = [
            Ok(Applied::Counted { new_visitor: false }),
            Ok(Applied::Counted { new_visitor: true }),
            Ok(Applied::Duplicate),
            Err(CountersError::Invalid("poison".into())),
        ];
        let line = metrics(&results).line(1_764_643_200_000, 3.0);
        let emitted = tally_metrics::read(&line).expect("emf");
        assert_eq!(emitted.get("Views"), 2.0);
        assert_eq!(emitted.get("Skipped.duplicate"), 1.0);
        assert_eq!(emitted.get("Failed.invalid"), 1.0);
    }
}
