"""electra-lab: ELECTRA pretraining studies."""
