//! Rendering for `jslm doctor`.
