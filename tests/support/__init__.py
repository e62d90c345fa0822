"""Test support: real servers started on loopback and stopped by pid."""
