/* SPDX-License-Identifier: BSD-3-Clause */
/* mpdp-primary: stages it launches and restarts (private to this program). */
#ifndef MPDP_PRIMARY_SUPERVISE_H
#define MPDP_PRIMARY_SUPERVISE_H

#endif /* MPDP_PRIMARY_SUPERVISE_H */
