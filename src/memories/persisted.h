/*
 * persisted.h - what a training-state file (state/state.c, through
 * common/persist.h) needs of a queue (queue.c) and of a bank (bank.c).
 */
#ifndef CTR_PERSISTED_H
#define CTR_PERSISTED_H

#include "common/persist.h"

extern const ctr__persist_ops ctr__queue_persist;
extern const ctr__persist_ops ctr__bank_persist;

#endif /* CTR_PERSISTED_H */
