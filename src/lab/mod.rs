//! Plan and apply: the desired topology against the recorded state.
