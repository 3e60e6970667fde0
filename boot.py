# Runs first on every boot. Kept tiny: a mistake here can lock you out of the REPL.
