"""The embedded default's broker: kombu's ``filesystem://`` transport, each message put in
place whole.

kombu writes a message into the folder its readers poll: it creates the file, then writes
it. A reader (another worker, every 50 ms) could move the file away between the two and
read it empty; its worker then stopped on a JSON error and the message was lost until the
lease re-queued its segment. Here a message is written under a name readers skip and then
renamed into place, which the file system does at once.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

PARTIAL = ".part"  # a message still being written: "<name>.<queue>.msg.part" matches no queue


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        """Put ``payload`` onto ``queue``, whole (see the module's docstring)."""
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        path = os.path.join(self.data_folder_out, name)
        try:
            with open(path + PARTIAL, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(path + PARTIAL, path)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {path!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
