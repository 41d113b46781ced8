"""`smsflow smsc`: an SMPP 3.4 SMSC simulator, a real network server (like SMPPSim in the Java world).

No SMSC that runs here installs from a package registry, so smsflow ships its own: the dispatcher's tests,
the demo and the benchmarks talk to it over TCP, and people run it for load tests. It binds ESMEs with a
password, answers submit_sm with message ids in decimal or hex, reassembles concatenated messages, sends
delivery receipts (intermediate and final; kept for the next bind, or tied to the submitting session and
lost with it: `receipts`) and MO replies, throttles and fills its queue on demand, and
writes every accepted part and every reassembled message to a JSON-lines log: what handsets would receive.

config (SmscConfig and its rules), server (the asyncio SMSC), session (one ESME connection), log (the
JSON-lines log), launcher (the simulator as a child process).
"""

from pipelines.smpp.simulator.config import Outcome, OutcomeRule, QueueFull, ReplyRule, SmscConfig
from pipelines.smpp.simulator.launcher import SimulatorProcess, start_process
from pipelines.smpp.simulator.log import read_records
from pipelines.smpp.simulator.server import Simulator, run, serve
from pipelines.smpp.simulator.session import Session

__all__ = ["Outcome", "OutcomeRule", "QueueFull", "ReplyRule", "Session", "Simulator", "SimulatorProcess",
           "SmscConfig", "read_records", "run", "serve", "start_process"]
