/*
 * The pattern a game engine would use: a fixed-timestep loop (20 ticks a
 * second) that, once per tick, drains the server's events without
 * blocking, answers them, advances its "world", and prints a summary of
 * the tick when anything happened (and a heartbeat every second).
 *
 *   game_loop [ADDR]          (default 127.0.0.1:9001; runs until killed,
 *                              or for GAME_LOOP_TICKS ticks if set)
 *
 * Every message a player sends is answered with "tick N: <message>".
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "wsengine.h"

#define TICK_NS 50000000L /* 20 ticks per second */

static void sleep_until(struct timespec *next) {
    next->tv_nsec += TICK_NS;
    if (next->tv_nsec >= 1000000000L) {
        next->tv_nsec -= 1000000000L;
        next->tv_sec += 1;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, next, NULL);
}

int main(int argc, char **argv) {
    const char *addr = argc > 1 ? argv[1] : "127.0.0.1:9001";
    const char *limit = getenv("GAME_LOOP_TICKS");
    long max_ticks = limit ? atol(limit) : -1;

    wse_config_builder *builder = wse_config_builder_new();
    wse_config_builder_set_poll_events(builder, true);
    const wse_config *config = NULL;
    wse_server *server = NULL;
    if (wse_config_builder_build(builder, &config) != WSE_RESULT_OK ||
        wse_server_bind(addr, config, &server) != WSE_RESULT_OK) {
        char detail[256];
        size_t n;
        wse_last_error_message(detail, sizeof detail, &n);
        fprintf(stderr, "game_loop: cannot listen on %s: %s\n", addr, detail);
        return 1;
    }
    wse_config_free(config);
    printf("game_loop listening on ws://%s, 20 ticks/s\n", addr);
    fflush(stdout);

    long players = 0;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (long tick = 0; max_ticks < 0 || tick < max_ticks; tick++) {
        long joined = 0, left = 0, messages = 0, dropped = 0;
        wse_event *event = NULL;
        /* Drain everything that happened since the last tick; never block. */
        while (wse_server_poll(server, WSE_TIMEOUT_NONE, &event) == WSE_RESULT_OK) {
            switch (wse_event_get_kind(event)) {
            case WSE_EVENT_KIND_OPEN:
                joined++;
                break;
            case WSE_EVENT_KIND_CLOSED:
                left++;
                break;
            case WSE_EVENT_KIND_MESSAGE: {
                const wse_message *msg = wse_event_message(event);
                char reply[512];
                int n = snprintf(reply, sizeof reply, "tick %ld: %.*s", tick,
                                 (int)(wse_message_len(msg) > 400 ? 400 : wse_message_len(msg)),
                                 (const char *)wse_message_data(msg));
                /* Never waits: in poll mode a full send queue (a player
                 * who stopped reading) fails the send with
                 * WSE_RESULT_QUEUE_FULL, and this frame goes on without
                 * that reply. */
                if (wse_conn_send_text(wse_event_conn(event), reply, (size_t)n) == WSE_RESULT_QUEUE_FULL)
                    dropped++;
                else
                    messages++;
                break;
            }
            default:
                break;
            }
            wse_event_free(event);
        }
        players += joined - left;
        if (joined || left || messages || dropped)
            printf("tick %ld: %ld players (+%ld -%ld), %ld messages answered, %ld replies dropped\n",
                   tick, players, joined, left, messages, dropped);
        else if (tick % 20 == 0)
            printf("tick %ld: %ld players, quiet\n", tick, players);
        fflush(stdout);
        sleep_until(&next);
    }
    wse_server_free(server);
    return 0;
}
