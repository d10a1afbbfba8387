-- id: image_status
-- order: 15
-- summary: The image is not ACTIVE (archived or being restored): never deleted by a plan.
--
-- ## What it does
-- Protects images whose `imageStatus` is anything but `ACTIVE`: `ARCHIVED`, `ACTIVATING`.
--
-- ## Why
-- An archived image was moved to the archive storage class on purpose: it is already
-- cheap, cannot be pulled (so no usage signal can ever show up), and deleting it before
-- its 90-day minimum still bills the full 90 days. An `ACTIVATING` image is being restored
-- because someone needs it. Both call for a person's decision, not a rule's
-- (docs/pitfalls.md#p9).
--
-- ## Evidence
-- `detail`: the image status.
--
-- ## Example
-- `imageStatus` ARCHIVED → protected, whatever the rules say.
--
-- ## Options
-- None: the guard reads no `params` column.
--
-- ## References
-- docs/pitfalls.md#p9.
SELECT
    i.account_id,
    i.region,
    i.repository_name,
    i.image_digest,
    'image_status ' || i.image_status AS detail
FROM images i
WHERE i.image_status <> 'ACTIVE'
