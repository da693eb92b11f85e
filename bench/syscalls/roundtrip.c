/* The cost of tracing socket calls (bench/syscalls/README.md): N small request/response
 * round trips over loopback TCP between a client and the server child it forks (16-byte
 * requests, 16-byte answers, TCP_NODELAY), then exit. Usage: roundtrip [N] (default 10000). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) { perror(what); exit(1); }

static void full(int fd, char *buf, int len) {
    for (int got = 0; got < len;) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n <= 0) die("read");
        got += n;
    }
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 10000, one = 1;
    char buf[16] = "request 0123456";
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0) die("listen");
    getsockname(l, (struct sockaddr *)&a, &len);
    pid_t server = fork();
    if (server == 0) {
        int s = accept(l, NULL, NULL);
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        for (int i = 0; i < n; i++) {
            full(s, buf, sizeof buf);
            if (write(s, buf, sizeof buf) != sizeof buf) die("server write");
        }
        close(s);
        return 0;
    }
    close(l);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
    for (int i = 0; i < n; i++) {
        if (write(c, buf, sizeof buf) != sizeof buf) die("client write");
        full(c, buf, sizeof buf);
    }
    close(c);
    waitpid(server, NULL, 0);
    return 0;
}
