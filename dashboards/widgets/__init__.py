"""The dashboard's panels: each takes plain `RouterStats` pieces and redraws itself."""
