//! What keeps this node from being ready, reported by the part that knows: the projector (views
//! not kept), the backup schedule (backups late), and so on. Readiness turns red while any
//! problem stands, with the problem's own words; each problem is logged once as an ERROR when it
//! appears and once as an INFO when it clears. Notes are worth telling an operator but do not
//! fail readiness (a late backup).

use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Readiness {
    problems: Mutex<BTreeMap<&'static str, String>>,
    notes: Mutex<BTreeMap<&'static str, String>>,
}

impl Readiness {
    /// `part` cannot do its work, because `reason`.
    pub fn fail(&self, part: &'static str, reason: String) {
        let mut problems = self.problems.lock().unwrap_or_else(|p| p.into_inner());
        if problems.get(part) != Some(&reason) {
            tracing::error!(part, "{reason}");
            problems.insert(part, reason);
        }
    }

    /// `part` works again.
    pub fn recover(&self, part: &'static str) {
        let mut problems = self.problems.lock().unwrap_or_else(|p| p.into_inner());
        if problems.remove(part).is_some() {
            tracing::info!(part, "recovered");
        }
    }

    /// Something an operator should know that does not stop this node serving.
    pub fn note(&self, part: &'static str, note: Option<String>) {
        let mut notes = self.notes.lock().unwrap_or_else(|p| p.into_inner());
        match note {
            Some(n) => {
                if notes.get(part) != Some(&n) {
                    tracing::warn!(part, "{n}");
                    notes.insert(part, n);
                }
            }
            None => {
                notes.remove(part);
            }
        }
    }

    /// The first problem, if any.
    pub fn problem(&self) -> Option<String> {
        let problems = self.problems.lock().unwrap_or_else(|p| p.into_inner());
        problems
            .iter()
            .next()
            .map(|(part, r)| format!("{part}: {r}"))
    }

    pub fn notes(&self) -> Vec<String> {
        let notes = self.notes.lock().unwrap_or_else(|p| p.into_inner());
        notes
            .iter()
            .map(|(part, n)| format!("{part}: {n}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_stand_until_their_part_recovers() {
        let r = Readiness::default();
        assert_eq!(r.problem(), None);
        r.fail("projector", "the lease cannot be renewed".into());
        r.note("backup", Some("late".into()));
        assert_eq!(
            r.problem().as_deref(),
            Some("projector: the lease cannot be renewed")
        );
        assert_eq!(r.notes(), ["backup: late"]);
        r.recover("projector");
        r.note("backup", None);
        assert_eq!(r.problem(), None);
        assert!(r.notes().is_empty());
    }
}
