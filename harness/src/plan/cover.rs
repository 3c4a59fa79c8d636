//! PLACEHOLDER until the covering-array generator lands (branch `cover`): every allowed row.

/// A covering-array problem: column i takes values `0..levels[i]`.
pub struct Problem<'a> {
    pub levels: Vec<usize>,
    pub strength: usize,
    /// False iff some constraint whose columns are all assigned is broken.
    pub allowed: &'a dyn Fn(&[Option<usize>]) -> bool,
    pub pinned: Vec<Vec<usize>>,
    pub seed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CoverError {
    #[error("no row is allowed")]
    Empty,
}

pub fn generate(p: &Problem) -> Result<Vec<Vec<usize>>, CoverError> {
    let mut rows = vec![vec![]];
    for &l in &p.levels {
        rows = rows
            .into_iter()
            .flat_map(|r: Vec<usize>| {
                (0..l).map(move |v| {
                    let mut r = r.clone();
                    r.push(v);
                    r
                })
            })
            .collect();
    }
    rows.retain(|r| (p.allowed)(&r.iter().map(|v| Some(*v)).collect::<Vec<_>>()));
    if rows.is_empty() {
        return Err(CoverError::Empty);
    }
    Ok(rows)
}
