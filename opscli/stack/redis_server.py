"""The stack's own Redis server, from Debian's package, on 127.0.0.1."""

from __future__ import annotations

import shutil

import redis

from opscli.stack.process import ServiceError, StackServer, ensure_port_free, spawn

SERVICE = "redis"
MARKER = "redis-server"


class RedisServer(StackServer):
    name = SERVICE
    marker = MARKER
    grace_seconds = 15

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.config.redis_port}"

    def start(self) -> None:
        if self.running_pid() is not None:
            return
        executable = shutil.which("redis-server")
        if executable is None:
            raise ServiceError(SERVICE, "redis-server is not installed: run scripts/install.sh",
                               self.log_path)
        ensure_port_free(SERVICE, self.config.redis_port, "EXCHANGE_REDIS_PORT", self.log_path)
        self.home.mkdir(parents=True, exist_ok=True)
        self.config.run_dir.mkdir(parents=True, exist_ok=True)
        conf = self.home / "redis.conf"
        conf.write_text(
            "bind 127.0.0.1\n"
            f"port {self.config.redis_port}\n"
            "protected-mode yes\n"
            "daemonize no\n"
            f"dir {self.home}\n"
            "appendonly yes\n"
            "appendfsync everysec\n"
            'save ""\n'
            "loglevel notice\n"
        )
        spawn([executable, str(conf)], log_path=self.log_path, pid_file=self.pid_file,
              cwd=self.home)

    def is_ready(self) -> bool:
        if not super().is_ready():
            return False
        client = redis.Redis(host="127.0.0.1", port=self.config.redis_port,
                             socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

