//! OSV advisories and the evaluation of their ranges.
