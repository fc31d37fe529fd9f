"""One poll's messages as a batch: each owned partition's commands, decoded in offset
order, with their tracing headers and the offsets they span."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, Message

from chalicelib.domain.order_commands import OrderCommand

from .batch import PartitionSlice
from .traces import CommandHeaders, command_headers

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ConsumedBatch:
    """One poll's commands: their slices, traces by command id and each partition's
    first and last offset."""

    slices: list[PartitionSlice] = field(default_factory=list)
    traces: dict[int, CommandHeaders] = field(default_factory=dict)
    offsets: dict[int, tuple[int, int]] = field(default_factory=dict)

    @property
    def partitions(self) -> list[int]:
        return [s.partition for s in self.slices]


def consumed_batch(messages: list[Message], epochs: Mapping[int, int]) -> ConsumedBatch | None:
    """The commands in ``messages`` of the partitions in ``epochs`` (those this instance
    owns, with its epoch for each); None if there are none."""
    by_partition: dict[int, list[Message]] = {}
    for message in messages:
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer error", extra={"error": str(error)})
            continue
        by_partition.setdefault(_partition(message), []).append(message)
    consumed = ConsumedBatch()
    for partition, batch in by_partition.items():
        if partition not in epochs:
            continue
        commands = [_decode(m) for m in batch]
        for message, command in zip(batch, commands, strict=True):
            if command is not None and (headers := command_headers(message.headers())):
                consumed.traces[command.command_id] = headers
        consumed.slices.append(PartitionSlice(partition, epochs[partition], commands,
                                              _offset(batch[-1]) + 1))
        consumed.offsets[partition] = (_offset(batch[0]), _offset(batch[-1]))
    return consumed if consumed.slices else None


def _decode(message: Message) -> OrderCommand | None:
    try:
        return OrderCommand.decode(message.value() or b"")
    except (ValueError, KeyError, TypeError):
        log.error("undecodable command skipped", extra={
            "partition": message.partition(), "offset": message.offset()})
        return None


# A message without an error always has its partition and offset.
def _partition(message: Message) -> int:
    partition = message.partition()
    assert partition is not None
    return partition


def _offset(message: Message) -> int:
    offset = message.offset()
    assert offset is not None
    return offset
