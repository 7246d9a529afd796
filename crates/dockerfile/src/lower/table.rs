//! The stages of the Dockerfile and the implicit ones (`COPY --from=image`), by index:
//! their dispatch states, names, and the dependency questions asked of them as a whole.

use std::collections::{BTreeMap, BTreeSet};

use super::StepError;
use super::stage::DispatchState;
use crate::diagnostic::LineRange;

#[derive(Default)]
pub(crate) struct StageTable {
    pub(crate) states: Vec<DispatchState>,
    /// Named stages (lowercase) to their index.
    pub(crate) by_name: BTreeMap<String, usize>,
    /// The index of the stage the build produces.
    pub(crate) target: usize,
}

impl StageTable {
    /// Rejects stages that read from each other in a loop. The error points at the
    /// first instruction on the loop and lists the rest.
    pub(crate) fn check_cycles(&self) -> Result<(), StepError> {
        let n = self.states.len();
        let mut done = vec![false; n];
        for start in 0..n {
            if done[start] {
                continue;
            }
            // Iterative depth-first search keeping the current path.
            let mut path: Vec<usize> = vec![start];
            let mut pending: Vec<Vec<usize>> =
                vec![self.states[start].deps.iter().rev().copied().collect()];
            while let Some(next) = pending.last_mut().and_then(Vec::pop) {
                if let Some(pos) = path.iter().position(|&p| p == next) {
                    let mut cycle: Vec<usize> = path[pos..].to_vec();
                    cycle.push(next);
                    return Err(self.cycle_error(&cycle));
                }
                if done[next] {
                    continue;
                }
                path.push(next);
                pending.push(self.states[next].deps.iter().rev().copied().collect());
                while pending.last().is_some_and(Vec::is_empty) {
                    pending.pop();
                    if let Some(finished) = path.pop() {
                        done[finished] = true;
                    }
                }
            }
            for p in path {
                done[p] = true;
            }
        }
        Ok(())
    }

    fn cycle_error(&self, cycle: &[usize]) -> StepError {
        let first = cycle[0];
        let lines = self
            .dependency_lines(first, cycle[1])
            .unwrap_or(self.states[first].stage.lines);
        let mut route = vec![self.states[first].stage_name.clone()];
        for pair in cycle.windows(2) {
            let line = self
                .dependency_lines(pair[0], pair[1])
                .map(|l| l.start)
                .unwrap_or_default();
            route.push(format!("{} (line {line})", self.states[pair[1]].stage_name));
        }
        StepError {
            lines,
            message: format!(
                "circular dependency detected on stage: {} ({})",
                self.states[first].stage_name,
                route.join(" -> ")
            ),
        }
    }

    fn dependency_lines(&self, from: usize, to: usize) -> Option<LineRange> {
        self.states[from]
            .commands
            .iter()
            .find(|c| c.sources.contains(&Some(to)))
            .map(|c| c.instruction.lines)
    }

    pub(crate) fn reachable(&self, target: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![target];
        while let Some(i) = stack.pop() {
            if !seen.insert(i) {
                continue;
            }
            if let Some(base) = self.states[i].base {
                stack.push(base);
            }
            stack.extend(self.states[i].deps.iter().copied());
        }
        seen
    }
}
