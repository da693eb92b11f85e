/* A forking server and its client in one program, for tests/syscalls.rs.
 * The parent listens on 127.0.0.1 (a port the kernel picks), forks the client, accepts one
 * connection and forks a handler for it; the handler reads "ping" and answers "pong". The client
 * first connects to a port nobody listens on (ECONNREFUSED). Everyone prints to stdout, which
 * must not show up as a traced call. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) { perror(what); exit(1); }

static unsigned short free_port(void) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    getsockname(s, (struct sockaddr *)&a, &len);
    close(s);
    return ntohs(a.sin_port);
}

static void client(unsigned short port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char buf[16] = {0};
    a.sin_port = htons(free_port());
    int r = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(r, (struct sockaddr *)&a, sizeof a) == 0) die("connect to a closed port");
    close(r);
    a.sin_port = htons(port);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
    if (write(s, "ping", 4) != 4) die("write");
    if (read(s, buf, sizeof buf - 1) != 4) die("read");
    shutdown(s, SHUT_WR);
    close(s);
    printf("client got %s\n", buf);
}

int main(void) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int one = 1;
    setvbuf(stdout, NULL, _IONBF, 0);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    if (listen(l, 5) < 0) die("listen");
    getsockname(l, (struct sockaddr *)&a, &len);
    pid_t c = fork();
    if (c == 0) {
        close(l);
        client(ntohs(a.sin_port));
        return 0;
    }
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    int s = accept(l, (struct sockaddr *)&peer, &plen);
    if (s < 0) die("accept");
    pid_t h = fork();
    if (h == 0) {
        char buf[16] = {0};
        close(l);
        if (read(s, buf, sizeof buf - 1) != 4) die("handler read");
        if (write(s, "pong", 4) != 4) die("handler write");
        printf("handler got %s\n", buf);
        read(s, buf, sizeof buf); /* the client's FIN */
        close(s);
        return 0;
    }
    close(s);
    waitpid(c, NULL, 0);
    waitpid(h, NULL, 0);
    close(l);
    printf("done\n");
    return 0;
}
