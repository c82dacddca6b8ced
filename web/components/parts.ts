/**
 * The parts of the interface loaded on demand (lazy.tsx): the call screen, the dialogs, the settings
 * and a conversation's details (with the connection diagnosis). The start draws the conversation list
 * and the welcome screen without them.
 */
import { lazy } from './lazy.js'

/** The incoming-call screen and the call view; drawn (and so loaded, if idle has not yet) while a call rings or runs. */
export const CallLayer = lazy(async () => (await import('./call.js')).CallLayer)
export const DialogLayer = lazy(async () => (await import('./dialogs.js')).DialogLayer)
export const SettingsView = lazy(async () => (await import('./settings.js')).SettingsView)
export const ContactDetails = lazy(async () => (await import('./details.js')).ContactDetails)
export const RoomDetails = lazy(async () => (await import('./details.js')).RoomDetails)
export const StrangerDetails = lazy(async () => (await import('./details.js')).StrangerDetails)

/** Loads every part (the call screen first: a call may ring at any time). */
export function preloadParts (): void {
  for (const part of [CallLayer, DialogLayer, SettingsView, ContactDetails]) part.preload().catch(() => {}) // drawing it tries again
}
