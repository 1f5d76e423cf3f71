"""Data-parallel training of a small MLP on scikit-learn's bundled digits dataset.

Runs the same way under ``torchrun`` (env:// rendezvous, elastic or not), under a PyTorchJob
(the operator's MASTER_ADDR / MASTER_PORT / WORLD_SIZE / RANK) and as a single process.
gloo on CPU, NCCL on GPU, chosen automatically. Rank 0 writes a checkpoint every
``--checkpoint-every`` steps (and at the end of each epoch) to ``--checkpoint-dir`` or
``$CHECKPOINT_DIR``, atomically (temporary file, then rename); on start every rank resumes from
the newest one. The last line rank 0 prints is ``final test accuracy: 0.xxx``.

    torchrun --nproc-per-node 3 -m hyperpod.examples.digits --epochs 10
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# torchrun gives its workers OMP_NUM_THREADS=1; do the same when started directly (as the
# operator does), before torch loads its OpenMP runtime, so ranks sharing a machine do not
# oversubscribe it and both ways of starting run alike.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from hyperpod import progress

CHECKPOINT_PATTERN = re.compile(r"^ckpt-(\d+)\.pt$")
KEEP_CHECKPOINTS = 2


@dataclass(frozen=True)
class World:
    """Where this process sits in the job."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m hyperpod.examples.digits",
        description="Data-parallel MLP on the scikit-learn digits dataset.",
    )
    parser.add_argument("--epochs", type=int, default=15, help="passes over the training set")
    parser.add_argument("--batch-size", type=int, default=32, help="samples per rank per step")
    parser.add_argument("--lr", type=float, default=0.01, help="Adam learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--checkpoint-dir",
        default=os.environ.get("CHECKPOINT_DIR") or None,
        help="directory for checkpoints (default $CHECKPOINT_DIR; none: no checkpoints)",
    )
    parser.add_argument(
        "--checkpoint-every", type=int, default=20, help="steps between checkpoints"
    )
    parser.add_argument(
        "--max-steps-per-second",
        type=float,
        default=0.0,
        help="slow training down to at most this many steps/s (0: as fast as possible)",
    )
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    if args.checkpoint_every < 1:
        parser.error("--checkpoint-every must be at least 1")
    return args


def setup_world() -> World:
    """Join the process group described by the environment (torchrun's or the operator's)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device = torch.device("cpu")
        # The model is tiny: one thread per rank is fastest and avoids oversubscribing cores.
        torch.set_num_threads(1)
        backend = "gloo"
    if world_size > 1:
        dist.init_process_group(backend=backend, init_method="env://")
        rank, world_size = dist.get_rank(), dist.get_world_size()
    return World(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def load_data(seed: int) -> tuple[TensorDataset, TensorDataset]:
    """The digits dataset (1,797 8x8 images), scaled to [0, 1], split 80/20 the same way on every rank."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    features = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    labels = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    cut = int(len(labels) * 0.8)
    train, test = order[:cut], order[cut:]
    return (
        TensorDataset(features[train], labels[train]),
        TensorDataset(features[test], labels[test]),
    )


def build_model() -> nn.Module:
    return nn.Sequential(
        nn.Linear(64, 128),
        nn.ReLU(),
        nn.Linear(128, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def newest_checkpoint(directory: Path) -> Path | None:
    found: list[tuple[int, Path]] = []
    if directory.is_dir():
        for entry in directory.iterdir():
            match = CHECKPOINT_PATTERN.match(entry.name)
            if match:
                found.append((int(match.group(1)), entry))
    return max(found)[1] if found else None


def save_checkpoint(directory: Path, state: dict[str, Any]) -> Path:
    """Write ``ckpt-<step>.pt`` atomically and keep only the newest few."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"ckpt-{state['step']:08d}.pt"
    tmp = directory / f".{final.name}.{os.getpid()}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, final)
    olds = sorted(p for p in directory.iterdir() if CHECKPOINT_PATTERN.match(p.name))
    for old in olds[:-KEEP_CHECKPOINTS]:
        old.unlink(missing_ok=True)
    return final


def agree_on_checkpoint(world: World, directory: Path | None) -> Path | None:
    """Rank 0 picks the newest checkpoint; every rank loads that same step."""
    step = -1
    if directory is not None and world.is_main:
        found = newest_checkpoint(directory)
        if found is not None:
            match = CHECKPOINT_PATTERN.match(found.name)
            assert match is not None
            step = int(match.group(1))
    if world.distributed:
        box = torch.tensor([step], dtype=torch.long, device=world.device)
        dist.broadcast(box, src=0)
        step = int(box.item())
    if step < 0 or directory is None:
        return None
    path = directory / f"ckpt-{step:08d}.pt"
    if not path.exists():
        raise SystemExit(
            f"rank {world.rank}: checkpoint {path} chosen by rank 0 is not visible here; "
            "--checkpoint-dir must be shared by all ranks"
        )
    return path


def evaluate(model: nn.Module, data: TensorDataset, device: torch.device) -> float:
    model.eval()
    features, labels = data.tensors
    with torch.no_grad():
        predicted = model(features.to(device)).argmax(dim=1)
    model.train()
    return float((predicted == labels.to(device)).float().mean().item())


def train(args: argparse.Namespace, world: World) -> float:
    torch.manual_seed(args.seed)
    train_set, test_set = load_data(args.seed)
    sampler: DistributedSampler[tuple[torch.Tensor, ...]] = DistributedSampler(
        train_set, num_replicas=world.world_size, rank=world.rank, shuffle=True, seed=args.seed
    )
    loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler, drop_last=False)
    steps_per_epoch = len(loader)

    model = build_model().to(world.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    step, start_epoch, skip = 0, 0, 0
    directory = Path(args.checkpoint_dir) if args.checkpoint_dir else None
    resume_from = agree_on_checkpoint(world, directory)
    if resume_from is not None:
        state = torch.load(resume_from, map_location=world.device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = int(state["step"])
        if int(state["world_size"]) == world.world_size:
            start_epoch, skip = divmod(step, steps_per_epoch)
        else:
            # Another world size shards the data differently: restart at the next epoch.
            start_epoch = int(state["epoch"]) + 1
        if world.is_main:
            print(f"resumed from checkpoint {resume_from.name} at step {step}", flush=True)
    elif world.is_main:
        print("starting from scratch (no checkpoint)", flush=True)

    ddp: nn.Module = (
        DistributedDataParallel(
            model, device_ids=[world.device] if world.device.type == "cuda" else None
        )
        if world.distributed
        else model
    )
    loss_fn = nn.CrossEntropyLoss()
    if world.is_main:
        print(
            f"ranks ready: world_size={world.world_size} backend="
            f"{dist.get_backend() if world.distributed else 'none'} at {time.time():.3f}",
            flush=True,
        )

    def checkpoint(epoch: int) -> None:
        if directory is not None and world.is_main:
            save_checkpoint(
                directory,
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "step": step,
                    "epoch": epoch,
                    "world_size": world.world_size,
                },
            )

    min_interval = 1.0 / args.max_steps_per_second if args.max_steps_per_second > 0 else 0.0
    started, steps_run = time.perf_counter(), 0
    total_steps = args.epochs * steps_per_epoch
    last_report, last_percent = 0.0, -1
    for epoch in range(start_epoch, args.epochs):
        sampler.set_epoch(epoch)
        total, batches = 0.0, 0
        for index, (features, labels) in enumerate(loader):
            if index < skip:
                continue
            tick = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(ddp(features.to(world.device)), labels.to(world.device))
            loss.backward()
            optimizer.step()
            step += 1
            steps_run += 1
            total += float(loss.item())
            batches += 1
            if step % args.checkpoint_every == 0:
                checkpoint(epoch)
            # Progress for `hyp list hyp-pytorch-job` (PROGRESS, ETA): on every whole percent
            # and at least once a second (one small file write each, at most ~100 + 1/s), so
            # a run of under a second still shows its progress and ETA while it runs.
            percent = step * 100 // total_steps
            if world.is_main and (
                percent != last_percent
                or time.monotonic() - last_report >= 1.0
                or step == total_steps
            ):
                last_report, last_percent = time.monotonic(), percent
                progress.report(step, total_steps, loss=float(loss.item()), epoch=epoch + 1)
            if min_interval:
                time.sleep(max(0.0, min_interval - (time.perf_counter() - tick)))
        skip = 0
        checkpoint(epoch)
        if world.is_main and batches:
            print(
                f"epoch {epoch + 1}/{args.epochs} step {step} loss {total / batches:.4f}",
                flush=True,
            )
    elapsed = time.perf_counter() - started
    accuracy = evaluate(model, test_set, world.device)
    if world.is_main:
        rate = steps_run / elapsed if elapsed > 0 else 0.0
        print(f"steps: {steps_run} in {elapsed:.3f}s ({rate:.1f} steps/s)", flush=True)
        print(f"final test accuracy: {accuracy:.3f}", flush=True)
    return accuracy


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    world = setup_world()
    try:
        train(args, world)
        if world.distributed:
            # No rank tears gloo down while a peer is still in its last collective: without this,
            # a loaded machine sees ~15 % of 4-rank runs abort at exit ("terminate called without
            # an active exception") after training finished.
            dist.barrier()
    finally:
        if world.distributed and dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
