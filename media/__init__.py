"""Residents' photos, voice notes and videos: checked, stored privately, rendered for display."""
