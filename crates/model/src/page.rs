//! Paging, in Nacos' terms.

/// One page of results, in Nacos' paging terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub total_count: usize,
    pub page_number: usize,
    pub pages_available: usize,
    pub items: Vec<T>,
}

impl<T> Page<T> {
    /// Cuts page `page_no` (from 1) of `page_size` out of `all`.
    pub fn of(all: Vec<T>, page_no: usize, page_size: usize) -> Self {
        let page_no = page_no.max(1);
        let page_size = page_size.clamp(1, 500);
        let total_count = all.len();
        let pages_available = total_count.div_ceil(page_size);
        let items = all
            .into_iter()
            .skip((page_no - 1).saturating_mul(page_size))
            .take(page_size)
            .collect();
        Self {
            total_count,
            page_number: page_no,
            pages_available,
            items,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_cut_and_count() {
        let page = Page::of((1..=7).collect::<Vec<_>>(), 2, 3);
        assert_eq!(
            (page.total_count, page.pages_available, page.items),
            (7, 3, vec![4, 5, 6])
        );
        assert!(Page::of(vec![1], 5, 10).items.is_empty());
    }
}
