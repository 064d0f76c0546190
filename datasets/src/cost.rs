//! Estimating per-prompt costs where a dataset records none.

use crate::table::OutcomeTable;

/// Characters per token used to estimate token counts from text. About 4 for English with
/// the BPE tokenizers of the models in these benchmarks; it is an estimate, which is why
/// filled cells are marked `cost_estimated`.
pub const CHARS_PER_TOKEN: f64 = 4.0;

/// Completion length assumed when a dataset records neither tokens nor a response.
pub const DEFAULT_OUTPUT_TOKENS: f64 = 300.0;

/// Estimated tokens of `text`: characters / [`CHARS_PER_TOKEN`], rounded up, at least 1.
pub fn estimate_tokens(text: &str) -> f64 {
    (text.chars().count() as f64 / CHARS_PER_TOKEN)
        .ceil()
        .max(1.0)
}

impl OutcomeTable {
    /// Forgets every recorded (not estimated) cost, so that [`Self::fill_estimated_costs`]
    /// prices every cell the same way; returns how many were cleared.
    pub fn clear_recorded_costs(&mut self) -> usize {
        let mut cleared = 0;
        for cell in self
            .rows
            .iter_mut()
            .flat_map(|r| r.cells.iter_mut().flatten())
        {
            if cell.cost_usd.is_some() && !cell.cost_estimated {
                cell.cost_usd = None;
                cleared += 1;
            }
        }
        cleared
    }

    /// Fills `cost_usd` of every cell that has none, from `prices(model)` = (input, output)
    /// USD per 1M tokens, and marks it `cost_estimated`. Input tokens are the recorded count
    /// or estimated from the prompt text; output tokens are the recorded count, else
    /// estimated from the recorded response, else `default_output_tokens`. Cells of models
    /// without a price stay empty. Returns the number of cells filled.
    pub fn fill_estimated_costs(
        &mut self,
        prices: &dyn Fn(&str) -> Option<(f64, f64)>,
        default_output_tokens: f64,
    ) -> usize {
        let prices: Vec<Option<(f64, f64)>> = self.models.iter().map(|m| prices(m)).collect();
        let mut filled = 0;
        for row in &mut self.rows {
            let mut prompt_tokens = None;
            for (cell, price) in row.cells.iter_mut().zip(&prices) {
                let (Some(cell), Some((input_price, output_price))) = (cell.as_mut(), price) else {
                    continue;
                };
                if cell.cost_usd.is_some() {
                    continue;
                }
                let input = match cell.input_tokens {
                    Some(t) => f64::from(t),
                    None => *prompt_tokens.get_or_insert_with(|| estimate_tokens(&row.text)),
                };
                let output = match (cell.output_tokens, cell.response.as_deref()) {
                    (Some(t), _) => f64::from(t),
                    (None, Some(resp)) => estimate_tokens(resp),
                    (None, None) => default_output_tokens,
                };
                cell.cost_usd = Some((input * input_price + output * output_price) / 1_000_000.0);
                cell.cost_estimated = true;
                filled += 1;
            }
        }
        filled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Cell, PromptRow};

    #[test]
    fn fills_only_missing_costs_of_priced_models() {
        let mut t = OutcomeTable::new("t", vec!["a".into(), "b".into(), "c".into()]);
        let recorded = Cell {
            cost_usd: Some(0.5),
            ..Cell::from_score(1.0)
        };
        let with_tokens = Cell {
            input_tokens: Some(1000),
            output_tokens: Some(500),
            ..Cell::from_score(0.0)
        };
        t.rows.push(PromptRow {
            id: "1".into(),
            text: "x".repeat(400),
            task: None,
            split: None,
            cells: vec![
                Some(recorded),
                Some(with_tokens),
                Some(Cell::from_score(1.0)),
            ],
        });
        let prices = |m: &str| match m {
            "a" | "b" => Some((1.0, 2.0)),
            _ => None,
        };
        assert_eq!(t.fill_estimated_costs(&prices, 200.0), 1);
        let cells = &t.rows[0].cells;
        let a = cells[0].as_ref().map(|c| (c.cost_usd, c.cost_estimated));
        assert_eq!(a, Some((Some(0.5), false)));
        let b = cells[1].as_ref().map(|c| (c.cost_usd, c.cost_estimated));
        assert_eq!(b, Some((Some((1000.0 + 1000.0) / 1e6), true)));
        assert_eq!(cells[2].as_ref().and_then(|c| c.cost_usd), None);

        t.rows[0].cells[1] = Some(Cell::from_score(0.0));
        t.fill_estimated_costs(&prices, 200.0);
        // 400 chars = 100 input tokens, default 200 output tokens.
        let b = t.rows[0].cells[1].as_ref().and_then(|c| c.cost_usd);
        assert_eq!(b, Some((100.0 + 400.0) / 1e6));

        // Repricing: the recorded cost goes, estimated ones stay; then every priced cell is
        // priced the same way (a's response of 80 characters = 20 output tokens).
        t.rows[0].cells[0].as_mut().unwrap().response = Some("y".repeat(80));
        assert_eq!(t.clear_recorded_costs(), 1);
        assert_eq!(t.rows[0].cells[0].as_ref().and_then(|c| c.cost_usd), None);
        assert_eq!(t.fill_estimated_costs(&prices, 200.0), 1);
        let a = t.rows[0].cells[0]
            .as_ref()
            .map(|c| (c.cost_usd, c.cost_estimated));
        assert_eq!(a, Some((Some((100.0 + 40.0) / 1e6), true)));
    }
}
