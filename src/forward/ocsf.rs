//! PLACEHOLDER (issue 15): replace this paragraph with what the module owns.
