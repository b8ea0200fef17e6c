"""The few end-to-end jobs: the one place that chains sheets -> store -> sync.

Pages, the CLI and the bootstrap call these; none of them wires the steps by hand.
"""
