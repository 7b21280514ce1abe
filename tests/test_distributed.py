"""engine/distributed.py in two real CPU processes (gloo): averaged gradients over several
backward passes, gathered advantages, per-process configs; the identity in one process."""
import os
import socket

import torch
import torch.multiprocessing as mp

from engine import distributed
from engine.spec.models import DDPOAlgorithm, MixGRPOAlgorithm


def _data(rank):
    g = torch.Generator().manual_seed(100 + rank)
    return torch.randn(6, 3, generator=g), torch.randn(6, generator=g)


def _worker(rank, port, world):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    distributed.init()
    torch.manual_seed(0)                                   # the same initial weights everywhere
    net = torch.nn.Linear(3, 1)
    distributed.average_gradients(list(net.parameters()))
    x, y = _data(rank)
    for half in (slice(0, 3), slice(3, 6)):                # two backward passes, as chunked steps do
        (0.5 * ((net(x[half]).squeeze(1) - y[half]) ** 2).mean()).backward()
    expected = torch.nn.Linear(3, 1)
    expected.load_state_dict(net.state_dict())
    for r in range(world):                                 # every process's data, in one process
        xr, yr = _data(r)
        (((expected(xr).squeeze(1) - yr) ** 2).mean() / world).backward()
    for p, q in zip(net.parameters(), expected.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-6, rtol=1e-5)

    rewards = torch.arange(4.0) + 10 * rank
    gathered = distributed.gather(rewards)
    assert gathered.tolist() == [float(v + 10 * r) for r in range(world) for v in range(4)]
    assert torch.equal(distributed.local_part(gathered), rewards)
    assert distributed.gather(None) is None
    assert distributed.local_algorithm(DDPOAlgorithm(kind="ddpo", batch_size=8, minibatches=2)).batch_size == 4
    assert distributed.local_algorithm(MixGRPOAlgorithm(kind="mixgrpo", prompts_per_epoch=4)).prompts_per_epoch == 2
    assert distributed.rank_seed(7) == 7 + distributed.RANK_SEED_STRIDE * rank
    torch.distributed.destroy_process_group()


def test_two_processes_average_gradients_and_gather():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(port, 2), nprocs=2, join=True)


def test_one_process_is_the_identity(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    t = torch.arange(3.0)
    alg = DDPOAlgorithm(kind="ddpo", batch_size=8)
    assert distributed.gather(t) is t and distributed.local_part(t) is t
    assert distributed.local_algorithm(alg) is alg and distributed.rank_seed(5) == 5 and distributed.is_main()
