//! The daemon's loopback HTTP control endpoint: health, re-check on demand, reports and a
//! small page.
